// The admin port's time-bounded state (sign-in throttle waits, the once-a-minute refusal log
// line, sign-in sessions) is reckoned on the monotonic clock: a wall clock set back or forward
// while the process runs (NTP, a VM resumed) neither lengthens nor shortens any of them.

import { expect } from "chai";
import { AdminSessions, SESSION_TTL_MS } from "../../shared/observability/admin-sessions";
import { RefusalLog } from "../../shared/observability/refusal-log";
import { SIGN_IN_FAILURES, SignInThrottle } from "../../shared/observability/sign-in-throttle";

/** The wall clock's step: Date.now is off by this much while these tests run. */
let offsetMs = 0;
const realNow = Date.now;

describe("admin port clocks", () => {
  beforeEach(() => {
    offsetMs = 0;
    // Stubbed before each object is made: one that keeps Date.now sees every step.
    Date.now = () => realNow() + offsetMs;
  });
  afterEach(() => {
    Date.now = realNow;
  });

  it("a wall clock set back does not make a throttled client wait longer than its window", () => {
    const throttle = new SignInThrottle();
    for (let i = 0; i < SIGN_IN_FAILURES; i += 1) throttle.failed("192.0.2.7");
    offsetMs = -3_600_000;
    expect(throttle.waitSeconds("192.0.2.7")).to.be.within(1, 60);
  });

  it("a wall clock set forward does not end a sign-in session early", () => {
    const sessions = new AdminSessions();
    const id = sessions.start();
    offsetMs = SESSION_TTL_MS + 60_000;
    expect(sessions.valid(id)).to.equal(true);
  });

  it("a wall clock set forward does not log a client's refusals more than once a minute", () => {
    const refusals = new RefusalLog();
    expect(refusals.first("request", "192.0.2.7")).to.equal(true);
    offsetMs = 3_600_000;
    expect(refusals.first("request", "192.0.2.7")).to.equal(false);
  });
});
