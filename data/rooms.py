"""Simulated rooms for `asr train --rir-dir`: `asr rirs --simulate N` draws N shoebox rooms (size,
reverberation time, talker and microphone positions) and computes each room's impulse response
with pyroomacoustics (MIT licence; the image source method), written as 16 kHz mono FLAC beside a
ROOMS.tsv that records every drawn parameter. Seeded: the same seed gives the same rooms."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.audio import SAMPLE_RATE

__all__ = ["RoomError", "Room", "draw_room", "room_impulse_response", "simulate_rooms"]

# the range of rooms people talk to a computer in: a small office to a classroom
LENGTH_M = (3.0, 10.0)
WIDTH_M = (2.5, 8.0)
HEIGHT_M = (2.4, 4.0)
RT60_S = (0.15, 0.8)
DISTANCE_M = (0.3, 3.0)  # talker to microphone
WALL_MARGIN_M = 0.4  # talker and microphone at least this far from every wall
MAX_ORDER = 60  # image sources beyond this order are left out (bounds the time of the largest rooms)
RIR_SECONDS = 1.0  # the response is cut here (the tail after is far below the direct path)
_TRIES = 100


class RoomError(Exception):
    """pyroomacoustics is missing or a room could not be drawn; the message is one line."""


@dataclass(frozen=True)
class Room:
    size: tuple[float, float, float]  # metres: length, width, height
    rt60: float  # seconds
    talker: tuple[float, float, float]
    mic: tuple[float, float, float]

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(np.subtract(self.talker, self.mic)))


def _point(rng: np.random.Generator, size: np.ndarray, heights: tuple[float, float]) -> np.ndarray:
    x, y = (rng.uniform(WALL_MARGIN_M, s - WALL_MARGIN_M) for s in size[:2])
    return np.array([x, y, rng.uniform(*heights)])


def draw_room(rng: np.random.Generator) -> Room:
    """One room with a talker (standing or sitting, 1.1-1.8 m) and a microphone (on a desk or a
    wall, 0.7-1.6 m) DISTANCE_M apart."""
    for _ in range(_TRIES):
        size = np.array([rng.uniform(*LENGTH_M), rng.uniform(*WIDTH_M), rng.uniform(*HEIGHT_M)])
        talker, mic = _point(rng, size, (1.1, 1.8)), _point(rng, size, (0.7, 1.6))
        if DISTANCE_M[0] <= np.linalg.norm(talker - mic) <= DISTANCE_M[1]:
            return Room(tuple(size.round(3)), round(float(rng.uniform(*RT60_S)), 3),
                        tuple(talker.round(3)), tuple(mic.round(3)))
    raise RoomError(f"no talker and microphone {DISTANCE_M[0]}-{DISTANCE_M[1]} m apart in {_TRIES} rooms")


def _pra():
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise RoomError("simulated rooms need pyroomacoustics: pip install pyroomacoustics") from None
    return pra


def _absorption(room: Room) -> tuple[float, int] | None:
    """Wall energy absorption and image source order for the room's RT60 (Sabine), None when the
    reverberation time is out of reach for that size."""
    try:
        return _pra().inverse_sabine(room.rt60, list(room.size))
    except ValueError:
        return None


def room_impulse_response(room: Room) -> np.ndarray:
    """The room's impulse response at 16 kHz, float32, peak 0.9, at most RIR_SECONDS long."""
    pra = _pra()
    if (found := _absorption(room)) is None:
        raise RoomError(f"room {room.size} m cannot have an RT60 of {room.rt60} s")
    absorption, order = found
    shoebox = pra.ShoeBox(list(room.size), fs=SAMPLE_RATE, materials=pra.Material(absorption),
                          max_order=min(order, MAX_ORDER))
    shoebox.add_source(list(room.talker))
    shoebox.add_microphone(list(room.mic))
    shoebox.compute_rir()
    x = np.asarray(shoebox.rir[0][0], dtype=np.float32)[: int(RIR_SECONDS * SAMPLE_RATE)]
    return 0.9 * x / max(float(np.abs(x).max()), 1e-9)


def _header(count: int, seed: int) -> str:
    return (f"# shoebox rooms simulated with pyroomacoustics (image source method, max order {MAX_ORDER}), "
            f"seed {seed}, {count} rooms\n")


def simulate_rooms(out: Path, count: int, seed: int = 0, progress: bool = True) -> list[Path]:
    """Write `count` rooms as OUT/room_NNNN.flac plus OUT/ROOMS.tsv. A rerun with the same seed
    keeps the rooms already written and adds what is missing; another seed in the same folder is
    refused (its rooms would be mixed with these)."""
    if count < 1:
        raise RoomError(f"--simulate must be at least 1, not {count}")
    out = Path(out)
    table = out / "ROOMS.tsv"
    if table.exists() and f"seed {seed}," not in (header := table.read_text().splitlines()[0]):
        raise RoomError(f"{out} holds rooms of another seed ({header[2:]}); use a new folder")
    rng = np.random.default_rng(seed)
    rooms = []
    while len(rooms) < count:  # deterministic: a room whose RT60 is out of reach is drawn again
        if _absorption(room := draw_room(rng)) is not None:
            rooms.append(room)
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"room_{i:04d}.flac" for i in range(count)]
    for room, path in tqdm(list(zip(rooms, paths)), desc="rooms", unit="room", disable=not progress):
        if not path.exists():
            tmp = path.with_name(path.name + ".partial")  # not *.flac: --rir-dir never reads it
            sf.write(tmp, room_impulse_response(room), SAMPLE_RATE, format="FLAC", subtype="PCM_24")
            tmp.replace(path)  # an interrupted run never leaves a half-written room behind
    rows = ["file\tlength_m\twidth_m\theight_m\trt60_s\ttalker_xyz\tmic_xyz\tdistance_m"]
    rows += [f"{p.name}\t" + "\t".join(f"{v:g}" for v in r.size) + f"\t{r.rt60:g}\t"
             + ",".join(f"{v:g}" for v in r.talker) + "\t" + ",".join(f"{v:g}" for v in r.mic)
             + f"\t{r.distance:.2f}" for p, r in zip(paths, rooms)]
    table.write_text(_header(count, seed) + "\n".join(rows) + "\n")
    return paths
