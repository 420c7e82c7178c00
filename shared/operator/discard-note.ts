// A discard's note: why the operator drops dead letters for good, in their own words. Required
// of a bulk discard, so the journal answers "why were 5 000 dead letters of backend B
// discarded?" as well as who did it; optional for one dead letter, whose discard by id scripts
// and the status page sent with no note before there was one. Bounded, so it fits the journal's
// target beside the selection.

import { RAW_UNSAFE } from "../observability/log-escape";

/**
 * The longest note taken, in code points: an emoji is one, as the operator counts it, where
 * UTF-16 made it two and refused 101 of them as 202 characters. With the selection it stays
 * within a journal field (512 UTF-16 units): a code point is two units at most, as a quote or a
 * backslash JSON escapes is two characters.
 */
export const DISCARD_NOTE_MAX = 200;

/** The note's length as DISCARD_NOTE_MAX bounds it: its code points. */
export function noteLength(note: string): number {
  let count = 0;
  for (const _ of note) count++;
  return count;
}

/**
 * One line of text: no control character (a line break, an escape sequence), bidirectional mark
 * or line separator. The journal keeps the note in its selection as JSON, where each control
 * takes six characters (`\u0001`): 200 of them made 1 200, and the field's bound cut the note
 * off, the one part of the entry that says why. A bidirectional mark reorders what a reader of
 * the journal is shown of it.
 */
const NOT_IN_NOTE = new RegExp(`[\\u0000-\\u001f${RAW_UNSAFE}]`);

/**
 * Half of a surrogate pair, alone: no character at all. A JSON body can send one (`"\ud800"`)
 * and it counts as one code point, but JSON.stringify writes it as six characters in the
 * selection, so 200 of them were cut off by the field's bound as controls were, and Redis
 * keeps it as U+FFFD, not what was sent.
 */
const LONE_SURROGATE = /\p{Cs}/u;

const NOTE_NEEDED = "a bulk discard needs a note: why these dead letters are discarded";

/** A bulk discard's note as given, trimmed, or why it is refused. */
export function checkedNote(raw: unknown): string | { problem: string } {
  const note = optionalNote(raw);
  return note === null ? { problem: NOTE_NEEDED } : note;
}

/**
 * A discard by id's note as given, trimmed; null when none is given (absent, or blank: the
 * status page's note field left empty); or why it is refused, by the bulk note's rules.
 */
export function optionalNote(raw: unknown): string | null | { problem: string } {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string") return { problem: "note is a string" };
  const note = raw.trim();
  if (note === "") return null;
  const length = noteLength(note);
  if (length > DISCARD_NOTE_MAX) {
    return { problem: `note is at most ${DISCARD_NOTE_MAX} characters, not ${length}` };
  }
  const half = LONE_SURROGATE.exec(note)?.[0];
  if (half !== undefined) {
    const code = half.charCodeAt(0).toString(16);
    return { problem: `note is text, not half of a surrogate pair alone (U+${code})` };
  }
  const unsafe = NOT_IN_NOTE.exec(note)?.[0];
  if (unsafe !== undefined) {
    const code = unsafe.charCodeAt(0).toString(16).padStart(4, "0");
    return {
      problem: `note is one line of text, without control characters or bidirectional marks (U+${code})`,
    };
  }
  return note;
}

/**
 * A bulk discard's body split into its note (checked) and the rest, the bulk replay's
 * selection, which is checked as a replay's is. A body that is no object is left whole for that
 * check to refuse.
 */
export function discardNote(body: unknown): {
  note: string | { problem: string };
  rest: unknown;
} {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { note: checkedNote(undefined), rest: body };
  }
  const { note, ...rest } = body as Record<string, unknown>;
  return { note: checkedNote(note), rest };
}

/**
 * A discard by id's body: nothing, or an object with a `note` and nothing else. Any other key
 * is refused rather than ignored: `{"notes": "…"}` would discard without the note meant.
 */
export function singleDiscardNote(body: unknown): string | null | { problem: string } {
  if (body === undefined || body === null) return null;
  if (typeof body !== "object" || Array.isArray(body)) {
    return { problem: 'the body is a JSON object: {"note": "why"}, or none' };
  }
  const other = Object.keys(body).find((key) => key !== "note");
  if (other !== undefined)
    return { problem: `unknown key "${other}" (a discard by id takes note)` };
  return optionalNote((body as Record<string, unknown>).note);
}
