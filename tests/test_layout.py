"""The layout's import rules, read from the source (ASTs, nothing imported):

- asr/ outside asr/cli/ never imports stream, train or data (the core, decode and runtime rooms sit below them);
- no module imports, even lazily inside a function, a module that imports it back (no cycles);
- each package (room) says in its __init__ docstring what it holds.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("asr", "train", "stream", "data")
UPPER = {"stream", "train", "data"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, at the top or inside functions. `from pkg import sub` names the
    submodule, not the package (a parent package is always imported first and is no dependency)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            subs = [f"{prefix}.{a.name}" for a in node.names if f"{prefix}.{a.name}" in modules]
            targets = subs if len(subs) == len(node.names) else [prefix, *subs]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name and not name.startswith(t + "."):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_asr_outside_the_cli_never_imports_stream_train_or_data():
    upward = {name: sorted(d for d in deps if d.split(".")[0] in UPPER)
              for name, deps in _graph().items()
              if name.split(".")[0] == "asr" and not (name == "asr.cli" or name.startswith("asr.cli."))}
    assert {k: v for k, v in upward.items() if v} == {}


def test_no_module_imports_in_a_cycle():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_what_it_must():
    """The rules would catch a violation: the graph holds known edges of each kind."""
    graph = _graph()
    assert "asr.runtime.lite" in graph["asr.runtime"]  # a relative import
    assert "stream.recognizer" in graph["stream.transcribe"]  # a lazy one, inside a function
    assert "train.compare.plots" in graph["train.compare.report"]  # `from . import plots`
    assert "stream.transcribe" in graph["asr.cli.recognise"]  # the CLI may reach up, lazily


def test_rooms_say_what_they_hold():
    for room in ("asr/decode", "asr/runtime", "asr/cli", "asr/cli/benchmarks", "train/compare", "stream"):
        doc = ast.get_docstring(ast.parse((ROOT / room / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 8, room
