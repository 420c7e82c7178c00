// The answers dead letters and dead callbacks share on the admin port: a bulk action's
// selection, a dead entry's age, and the answer to an action on one entry.

import { expect } from "chai";
import { SluiceError } from "../../shared/protocol/errors";
import { CALLBACK_FILTER_KEYS, deadCallbackFilter } from "../../shared/operator/dead-callbacks";
import { DEAD_LETTER_FILTER_KEYS, deadLetterFilter } from "../../shared/operator/dead-letters";
import {
  actionAnswer,
  bulkSelection,
  deadCallbackDocument,
  deadLetterDocument,
  describeDead,
  limitOf,
  skipped,
  keyProblem,
  untilOf,
  withErrorShape,
} from "../../shared/operator/operator-answers";
import { LIST_LIMIT } from "../../shared/operator/selection-limit";

const invalid = (message: string) => ({ status: 400, body: { type: "InvalidRequest", message } });

const LETTERS = DEAD_LETTER_FILTER_KEYS;

describe("operator answers", () => {
  it("takes a bulk action's filter and limit from its body, up to the bulk maximum", () => {
    expect(
      bulkSelection({ reason: "exhausted", limit: 20 }, deadLetterFilter, LETTERS),
    ).to.deep.equal({
      filter: { reason: "exhausted" },
      limit: 20,
    });
    expect(bulkSelection({ all: true }, deadCallbackFilter, CALLBACK_FILTER_KEYS)).to.deep.equal({
      filter: {},
      limit: 1000,
    });
    expect(bulkSelection({ all: true, limit: "10000" }, deadLetterFilter, LETTERS)).to.deep.equal({
      filter: {},
      limit: 10_000,
    });
    // Above it: refused, as the CLI refuses it, not cut to it without a word.
    expect(bulkSelection({ all: true, limit: "50000" }, deadLetterFilter, LETTERS)).to.deep.equal(
      invalid("limit is at most 10000, not 50000"),
    );
  });

  it("refuses a bulk action that names no filter and not all, or has a bad limit", () => {
    for (const body of [undefined, {}, { all: "yes" }, { reason: "" }]) {
      expect(bulkSelection(body, deadLetterFilter, LETTERS), JSON.stringify(body)).to.deep.equal(
        invalid('name a filter (reason, service, backend, client, id) or send {"all": true}'),
      );
    }
    expect(bulkSelection({ all: true, limit: 0 }, deadLetterFilter, LETTERS)).to.deep.equal(
      invalid("limit takes a whole number of 1 or more, not 0"),
    );
  });

  it("refuses a key it does not know and a filter that is not a string: never a wider selection", () => {
    // Dropped, the misspelt backend made this a replay of every backend's translator errors.
    expect(
      bulkSelection({ reason: "translator_error", backnd: "legacy" }, deadLetterFilter, LETTERS),
    ).to.deep.equal(
      invalid('unknown key "backnd"; known: reason, service, backend, client, id, all, limit'),
    );
    expect(bulkSelection({ replayed: "no", all: true }, deadLetterFilter, LETTERS)).to.include({
      status: 400,
    });
    for (const backend of [5, ["legacy"], { name: "legacy" }, true]) {
      expect(
        bulkSelection({ reason: "exhausted", backend }, deadLetterFilter, LETTERS),
        JSON.stringify(backend),
      ).to.deep.equal(invalid("backend is a string"));
    }
    for (const body of [[], "all", 1]) {
      expect(bulkSelection(body, deadLetterFilter, LETTERS)).to.deep.equal(
        invalid("the body is a JSON object"),
      );
    }
    expect(keyProblem(["client", "limit"], ["client", "limit"])).to.equal(null);
    expect(keyProblem(["client", "recever"], ["client", "receiver"])).to.deep.equal(
      invalid('unknown key "recever"; known: client, receiver'),
    );
  });

  it("refuses a query key given twice: of ?backend=a&backend=b only the first was read", () => {
    const twice = new URLSearchParams("backend=a&limit=5&backend=b");
    expect(keyProblem(twice.keys(), ["backend", "limit"])).to.deep.equal(
      invalid('the key "backend" is given twice; give each key once'),
    );
    expect(
      keyProblem(new URLSearchParams("backend=a&limit=5").keys(), ["backend", "limit"]),
    ).to.equal(null);
  });

  it("takes a boolean dryRun from a bulk body that may hold one, and refuses any other value", () => {
    const dry = { dryRun: true };
    expect(
      bulkSelection({ all: true, dryRun: true }, deadLetterFilter, LETTERS, dry),
    ).to.deep.equal({ filter: {}, limit: 1000, dryRun: true });
    expect(
      bulkSelection({ reason: "exhausted" }, deadCallbackFilter, CALLBACK_FILTER_KEYS, dry),
    ).to.deep.equal({ filter: { reason: "exhausted" }, limit: 1000, dryRun: false });
    for (const dryRun of ["true", 1, null, [], {}]) {
      expect(
        bulkSelection({ all: true, dryRun }, deadLetterFilter, LETTERS, dry),
        JSON.stringify(dryRun),
      ).to.deep.equal(invalid("dryRun is true or false"));
    }
    // Where a dry run is not offered, dryRun is a key like any unknown one.
    expect(bulkSelection({ all: true, dryRun: true }, deadLetterFilter, LETTERS)).to.deep.equal(
      invalid('unknown key "dryRun"; known: reason, service, backend, client, id, all, limit'),
    );
    expect(
      bulkSelection({ all: true, dryrun: true }, deadLetterFilter, LETTERS, dry),
    ).to.deep.equal(
      invalid(
        'unknown key "dryrun"; known: reason, service, backend, client, id, all, limit, dryRun, until',
      ),
    );
  });

  it("narrows a bulk run to a dry run's until, refusing one it did not write or one alone", () => {
    const dry = { dryRun: true };
    const until = "2026-12-06T01:02:03.456Z";
    expect(bulkSelection({ backend: "b", until }, deadLetterFilter, LETTERS, dry)).to.deep.equal({
      filter: { backend: "b", until: Date.parse(until) },
      limit: 1000,
      dryRun: false,
    });
    expect(
      bulkSelection({ all: true, until }, deadCallbackFilter, CALLBACK_FILTER_KEYS, dry),
    ).to.deep.equal({ filter: { until: Date.parse(until) }, limit: 1000, dryRun: false });
    // A time in another form could be read in the viewer's zone, or mean a day's start.
    for (const bad of [
      "2026-12-06",
      "2026-12-06T01:02:03",
      "2026-12-06T01:02:03+02:00",
      "2026-02-30T00:00:00Z",
      1_765_000_000_000,
      "",
      null,
    ]) {
      expect(
        bulkSelection({ all: true, until: bad }, deadLetterFilter, LETTERS, dry),
        JSON.stringify(bad),
      ).to.deep.equal(invalid("until is a time as a dry run answers it (ISO 8601, UTC)"));
    }
    // It narrows a selection and names none: alone it acts on nothing.
    expect(bulkSelection({ until }, deadLetterFilter, LETTERS, dry)).to.have.property(
      "status",
      400,
    );
    expect(untilOf(until)).to.equal(Date.parse(until));
  });

  it("takes a list's limit up to its maximum, its default when none is given", () => {
    expect(limitOf(null, LIST_LIMIT)).to.equal(100);
    expect(limitOf("1000", LIST_LIMIT)).to.equal(1000);
    expect(limitOf("5000", LIST_LIMIT)).to.deep.equal(invalid("limit is at most 1000, not 5000"));
    expect(limitOf("abc", LIST_LIMIT)).to.deep.equal(
      invalid('limit takes a whole number of 1 or more, not "abc"'),
    );
  });

  it("describes a dead entry with its time in words and its age, never a negative one", () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5);
    expect(describeDead({ id: "x", at }, at + 90_400)).to.deep.equal({
      id: "x",
      at: "2026-01-02T03:04:05.000Z",
      ageSeconds: 90,
    });
    expect(describeDead({ id: "x", at }, at - 5_000).ageSeconds).to.equal(0);
  });

  it("answers an action on one entry: 200 done, 404 no such entry, 409 refused, 503 broker out", () => {
    const missing = "no such dead letter";
    expect(actionAnswer({ result: "replayed" }, missing)).to.deep.equal({
      status: 200,
      body: { result: "replayed" },
    });
    expect(actionAnswer({ result: "already" }, missing).status).to.equal(200);
    // Refusals in the error shape of the other operator answers, their own fields kept.
    expect(actionAnswer({ id: "x", result: "refused", error: missing }, missing)).to.deep.equal({
      status: 404,
      body: { id: "x", result: "refused", error: missing, type: "NotFound", message: missing },
    });
    expect(actionAnswer({ result: "refused", error: "its record is gone" }, missing)).to.deep.equal(
      {
        status: 409,
        body: {
          result: "refused",
          error: "its record is gone",
          type: "Conflict",
          message: "its record is gone",
        },
      },
    );
    const out = { result: "refused", error: "the broker did not take it", retryAfter: 5 };
    expect(() => actionAnswer(out, missing))
      .to.throw(SluiceError)
      .that.includes({ code: "Unavailable", status: 503, retryAfter: 5 });
  });

  it("gives a bulk run's refusals and skipped entries the error shape, its other results as they are", () => {
    const missing = "no such dead callback";
    const done = { id: "a", result: "redelivered" };
    expect(withErrorShape(done, missing)).to.equal(done);
    const out = { id: "b", result: "refused", error: "the broker did not take it", retryAfter: 5 };
    expect(withErrorShape(out, missing)).to.deep.equal({
      ...out,
      type: "Unavailable",
      message: "the broker did not take it",
    });
    expect(withErrorShape({ id: "c", result: "refused", error: missing }, missing)).to.include({
      type: "NotFound",
      message: missing,
    });
    expect(skipped("d", "Unavailable", "the process is shutting down; ask again")).to.deep.equal({
      id: "d",
      reason: "the process is shutting down; ask again",
      type: "Unavailable",
      message: "the process is shutting down; ask again",
    });
  });

  it("shows a dead callback's target without its query's values", () => {
    const document = deadCallbackDocument(
      { id: "m", target: "https://cb.example.org/hooks/1?token=s3cret", at: 0 },
      1000,
    );
    expect(document).to.deep.equal({
      id: "m",
      target: "https://cb.example.org/hooks/1?token=[redacted]",
      at: "1970-01-01T00:00:00.000Z",
      ageSeconds: 1,
    });
  });

  it("shows a dead letter's request with its callback target as a dead callback's is shown", () => {
    const request = {
      id: "m",
      headers: { authorization: "Bearer caller-secret" },
      callback: "https://cb.example.org/hooks/1?token=s3cret",
    };
    const document = deadLetterDocument({ id: "m", at: 0, request: JSON.stringify(request) }, 0);
    expect(document.request).to.deep.equal({
      id: "m",
      headers: { authorization: "[redacted]" },
      callback: "https://cb.example.org/hooks/1?token=[redacted]",
    });
  });
});
