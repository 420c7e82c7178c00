// Failed sign-ins on the admin port, counted per remote address: beyond a few a minute the
// address waits, so the token cannot be guessed at the speed of a loop.

/** Failed sign-ins an address may make in one window before it must wait. */
export const SIGN_IN_FAILURES = 10;
export const SIGN_IN_WINDOW_MS = 60_000;
/** Addresses tracked at once; the oldest goes first, so a flood of addresses cannot grow the heap. */
const MAX_ADDRESSES = 10_000;

export class SignInThrottle {
  /** Per address: failures in the window that started with the first of them. */
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Seconds the address must wait before trying again, or 0 if it may try now. */
  waitSeconds(address: string): number {
    const window = this.current(address);
    if (!window || window.failures < SIGN_IN_FAILURES) return 0;
    return Math.max(1, Math.ceil((window.start + SIGN_IN_WINDOW_MS - this.now()) / 1000));
  }

  failed(address: string): void {
    const window = this.current(address);
    if (window) {
      window.failures += 1;
      return;
    }
    while (this.windows.size >= MAX_ADDRESSES) {
      this.windows.delete(this.windows.keys().next().value as string);
    }
    this.windows.set(address, { start: this.now(), failures: 1 });
  }

  private current(address: string): { start: number; failures: number } | undefined {
    const window = this.windows.get(address);
    if (window && this.now() - window.start >= SIGN_IN_WINDOW_MS) {
      this.windows.delete(address);
      return undefined;
    }
    return window;
  }
}
