// Writes made during one event-loop turn leave as one batch when the turn ends, in order,
// and a later turn's writes make a batch of their own.

import { expect } from "chai";
import { Writable } from "node:stream";
import { corkPerTurn } from "../../shared/runtime/turn-corked-socket";

/** A stream that records each batch the way a socket's `_writev` would send it. */
function recordingStream(): { stream: Writable; batches: string[][] } {
  const batches: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      batches.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      batches.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      done();
    },
  });
  return { stream, batches };
}

const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("per-turn corked socket", () => {
  it("sends the writes of one turn, made from callbacks and promises, as one batch", async () => {
    const { stream, batches } = recordingStream();
    corkPerTurn(stream);
    stream.write("a");
    process.nextTick(() => stream.write("b"));
    void Promise.resolve().then(() => stream.write("c"));
    await new Promise((resolve) => process.nextTick(resolve));
    expect(batches, "nothing leaves before the turn ends").to.deep.equal([]);
    await endOfTurn();
    expect(batches).to.deep.equal([["a", "b", "c"]]);

    stream.write("d");
    stream.write("e");
    await endOfTurn();
    expect(batches).to.deep.equal([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
  });

  it("leaves an uncorked stream alone and wraps a socket only once", async () => {
    const plain = recordingStream();
    plain.stream.write("x");
    plain.stream.write("y");
    expect(plain.batches, "written at once without the wrapper").to.deep.equal([["x"], ["y"]]);

    const { stream, batches } = recordingStream();
    corkPerTurn(stream);
    corkPerTurn(stream);
    stream.write("1");
    stream.write("2");
    await endOfTurn();
    // Wrapped twice, two uncorks would be needed for one cork level too many: still one batch.
    expect(batches).to.deep.equal([["1", "2"]]);
    expect(stream.writableCorked).to.equal(0);
  });

  it("sends a batch as large as the stream's buffer at once, without waiting for the turn's end", async () => {
    const { stream, batches } = recordingStream();
    corkPerTurn(stream);
    stream.write("small");
    expect(batches).to.deep.equal([]);
    const big = "x".repeat(stream.writableHighWaterMark);
    const accepted = stream.write(big);
    expect(accepted, "the writer is told to wait for drain").to.equal(false);
    expect(batches, "flushed within the same turn").to.deep.equal([["small", big]]);
    const drained = new Promise((resolve) => stream.once("drain", resolve));
    stream.write("after");
    await drained;
    await endOfTurn();
    expect(batches).to.deep.equal([["small", big], ["after"]]);
  });

  it("sends what a turn wrote before an end() in the same turn (a client's disconnect), then finishes", async () => {
    const { stream, batches } = recordingStream();
    corkPerTurn(stream);
    const finished = new Promise((resolve) => stream.once("finish", resolve));
    stream.write("last command");
    stream.end();
    await finished;
    expect(batches).to.deep.equal([["last command"]]);
    // The turn's own flush comes after: it finds nothing corked and leaves the stream alone.
    await endOfTurn();
    expect(stream.writableCorked).to.equal(0);
  });

  it("does not fail when the socket is destroyed while corked", async () => {
    const { stream } = recordingStream();
    stream.on("error", () => undefined);
    corkPerTurn(stream);
    stream.write("lost");
    stream.destroy();
    await endOfTurn();
    expect(stream.destroyed).to.equal(true);
  });
});
