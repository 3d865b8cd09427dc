// AudioWorklet: the microphone's samples (first channel, the context's native rate) to the page as Int16 PCM,
// about 100 ms a message; on "flush" the rest, then "flushed".
class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.block = new Int16Array(this.size);
    this.filled = 0;
    this.port.onmessage = (m) => {  // "flush": the last, partly filled block, then "flushed"
      if (m.data !== "flush") return;
      if (this.filled) this.port.postMessage(this.block.slice(0, this.filled).buffer);
      this.filled = 0;
      this.port.postMessage("flushed");
    };
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        const s = Math.max(-1, Math.min(1, channel[i]));
        this.block[this.filled++] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
        if (this.filled === this.size) {
          this.port.postMessage(this.block.buffer, [this.block.buffer]);  // transferred: the array is detached
          this.block = new Int16Array(this.size);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("pcm-capture", PcmCapture);
