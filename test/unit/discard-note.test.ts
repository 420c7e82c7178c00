// A bulk discard's note: required, one line of at most 200 characters, and within the journal's
// field beside the selection, so the journal always keeps why.

import { expect } from "chai";
import {
  checkedNote,
  discardNote,
  DISCARD_NOTE_MAX,
  optionalNote,
  singleDiscardNote,
} from "../../shared/operator/discard-note";
import { deadLetterSelection } from "../../shared/operator/journal-entries";
import { JOURNAL_TEXT_MAX } from "../../shared/operator/operator-journal";

describe("discard note", () => {
  it("takes 200 characters, trimmed, and refuses 201", () => {
    expect(checkedNote("a".repeat(DISCARD_NOTE_MAX))).to.equal("a".repeat(200));
    expect(checkedNote(`  ${"a".repeat(200)}  `)).to.equal("a".repeat(200));
    expect(checkedNote("a".repeat(201))).to.deep.equal({
      problem: "note is at most 200 characters, not 201",
    });
  });

  it("counts code points: 200 emoji are taken, 201 refused", () => {
    // Each of these is two UTF-16 units: 200 of them are 400 units and still 200 characters.
    const emoji = "😀🚀𝄞👍";
    const longest = Array.from({ length: DISCARD_NOTE_MAX }, (_, i) => [...emoji][i % 4]).join("");
    expect(longest.length).to.equal(400);
    expect(checkedNote(longest)).to.equal(longest);
    expect(checkedNote(`${longest}a`)).to.deep.equal({
      problem: "note is at most 200 characters, not 201",
    });
    expect(checkedNote(`${"a".repeat(199)}😀`)).to.equal(`${"a".repeat(199)}😀`);
  });

  it("takes any script and emoji", () => {
    for (const note of ["שלום: נשלח שוב ידנית", "مرحبا", "resubmitted 😀", "Grüße, ünïcödé"]) {
      expect(checkedNote(note), note).to.equal(note);
    }
  });

  it("refuses control characters, bidirectional marks and line separators", () => {
    for (const [note, code] of [
      ["line one\nline two", "000a"],
      ["tab\there", "0009"],
      ["nul\u0000", "0000"],
      ["\u001b]0;owned\u0007title", "001b"],
      ["csi \u009b2J", "009b"],
      ["del\u007f", "007f"],
      ["\u202egnp.exe", "202e"],
      ["isolate \u2066x\u2069", "2066"],
      ["para\u2029graph", "2029"],
    ]) {
      expect(checkedNote(note), JSON.stringify(note)).to.deep.equal({
        problem: `note is one line of text, without control characters or bidirectional marks (U+${code})`,
      });
    }
    expect(discardNote({ all: true, note: "a\u0001b" }).note).to.have.property("problem");
  });

  it("refuses half of a surrogate pair alone, which JSON writes as six characters", () => {
    // A JSON body can carry one ("\ud800"); one code point, but six characters in the
    // selection, so 200 of them were cut off by the field's bound.
    for (const note of ["\ud800".repeat(DISCARD_NOTE_MAX), "why \udc00", "\ud83d"]) {
      expect(checkedNote(note), JSON.stringify(note)).to.have.property("problem");
      expect(optionalNote(note), JSON.stringify(note)).to.have.property("problem");
    }
    expect(checkedNote("x\ud800y")).to.deep.equal({
      problem: "note is text, not half of a surrogate pair alone (U+d800)",
    });
    expect(singleDiscardNote({ note: "\udfff" })).to.have.property("problem");
    // A pair is one character, taken.
    expect(checkedNote("\ud83d\ude00")).to.equal("😀");
  });

  it("takes a discard by id with no body, a blank note as none, and refuses any other key or a body that is no object", () => {
    expect(singleDiscardNote(undefined)).to.equal(null);
    expect(singleDiscardNote({})).to.equal(null);
    expect(singleDiscardNote({ note: "  " })).to.equal(null);
    expect(singleDiscardNote({ note: " resubmitted " })).to.equal("resubmitted");
    // `notes` would otherwise discard without the note meant (docs/operator.md).
    expect(singleDiscardNote({ notes: "resubmitted" })).to.have.property("problem");
    expect(singleDiscardNote({ note: "why", dryRun: true })).to.have.property("problem");
    for (const body of ["resubmitted", ["resubmitted"], 1]) {
      expect(singleDiscardNote(body), JSON.stringify(body)).to.have.property("problem");
    }
    expect(singleDiscardNote({ note: "x".repeat(DISCARD_NOTE_MAX + 1) })).to.have.property(
      "problem",
    );
  });

  it("keeps the longest note whole in the journal's selection", () => {
    // JSON doubles a quote or a backslash, the most any character it takes still costs; a
    // control cost six, and 200 of them were cut off by the field's bound.
    for (const ch of ["a", '"', "\\", "😀"]) {
      const longest = ch.repeat(DISCARD_NOTE_MAX);
      const note = checkedNote(longest);
      expect(note, ch).to.equal(longest);
      const target = deadLetterSelection({ until: 0 }, 10_000, note as string);
      expect(target.length, ch).to.be.at.most(JOURNAL_TEXT_MAX);
      expect(JSON.parse(target).note).to.equal(longest);
    }
    expect(checkedNote("\u0001".repeat(DISCARD_NOTE_MAX))).to.have.property("problem");
  });
});
