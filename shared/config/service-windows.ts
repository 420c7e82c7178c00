// The hours a legacy system may be called: a backend's `windows` list, evaluated in each
// window's own time zone (Intl), so a worker outside the window leaves messages queued.
//
// Format (docs/worker-limits.md):
//   windows:
//     - { days: [mon-fri], from: "08:00", to: "18:00", tz: Europe/Tallinn }
//     - { days: [sat], from: "22:00", to: "02:00" }   # from > to: ends the next morning
// `days` defaults to every day and names the day a window starts on; `tz` defaults to UTC;
// `from` = `to` means 24 hours; `to` may be "24:00". An empty list means always open.

export interface ServiceWindow {
  /** Days of the week the window starts on, 0 = Sunday … 6 = Saturday. */
  days: ReadonlySet<number>;
  /** Start and end as minutes after local midnight; end may be less than start (wraps). */
  fromMinute: number;
  toMinute: number;
  tz: string;
}

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const FULL_DAY_NAMES = [
  "sunday",
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday",
];
const MINUTE_MS = 60_000;
const KNOWN_FIELDS = new Set(["days", "from", "to", "tz"]);

function dayIndex(name: string): number {
  const lower = name.trim().toLowerCase();
  const short = DAY_NAMES.indexOf(lower);
  return short >= 0 ? short : FULL_DAY_NAMES.indexOf(lower);
}

/** "mon", "Monday" or a range such as "mon-fri" / "fri-mon" → day indexes; null when invalid. */
function parseDays(entry: unknown): number[] | null {
  if (typeof entry !== "string") return null;
  const [first, last, extra] = entry.split("-");
  if (extra !== undefined) return null;
  const start = dayIndex(first);
  const end = last === undefined ? start : dayIndex(last);
  if (start < 0 || end < 0) return null;
  const days: number[] = [];
  for (let day = start; ; day = (day + 1) % 7) {
    days.push(day);
    if (day === end) return days;
  }
}

/** "HH:MM" (00:00 to 24:00) → minutes after midnight; null when invalid. */
function parseClock(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const match = /^(\d{1,2}):(\d{2})$/.exec(value.trim());
  if (!match) return null;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (hours > 24 || minutes > 59 || (hours === 24 && minutes > 0)) return null;
  return hours * 60 + minutes;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let format = formatters.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(tz, format);
  }
  return format;
}

function validTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  weekday: number;
  /** Minutes after local midnight, with seconds as a fraction. */
  minute: number;
  /** Local wall time read as if it were UTC, in ms: the instant plus the zone's offset. */
  wallMs: number;
}

function localTime(instant: number, tz: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(instant)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const wholeSeconds = Date.UTC(
    parts.year,
    parts.month - 1,
    parts.day,
    parts.hour,
    parts.minute,
    parts.second,
  );
  const wallMs = wholeSeconds + (((instant % 1000) + 1000) % 1000);
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    weekday: new Date(wholeSeconds).getUTCDay(),
    minute: parts.hour * 60 + parts.minute + (wallMs % MINUTE_MS) / MINUTE_MS,
    wallMs,
  };
}

function offsetAt(instant: number, tz: string): number {
  return localTime(instant, tz).wallMs - instant;
}

/**
 * The earliest instant whose local wall time in `tz` is `wall` (ms, read as UTC) or later.
 * Wall times repeated when clocks go back give the first occurrence; wall times skipped when
 * clocks go forward give the moment of the jump.
 */
function instantOfWallTime(wall: number, tz: string): number {
  const offsets = new Set([
    offsetAt(wall - 14 * 3_600_000, tz),
    offsetAt(wall + 14 * 3_600_000, tz),
  ]);
  const valid = [...offsets]
    .map((offset) => wall - offset)
    .filter((t) => offsetAt(t, tz) === wall - t);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: find the first minute at which the wall clock has passed `wall`.
  let lo = Math.floor((wall - Math.max(...offsets)) / MINUTE_MS);
  let hi = Math.ceil((wall - Math.min(...offsets)) / MINUTE_MS);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (localTime(mid * MINUTE_MS, tz).wallMs >= wall) hi = mid;
    else lo = mid + 1;
  }
  return hi * MINUTE_MS;
}

function windowLength(window: ServiceWindow): number {
  const length = (window.toMinute - window.fromMinute + 1440) % 1440;
  return length === 0 ? 1440 : length;
}

function windowContains(window: ServiceWindow, instant: number): boolean {
  const local = localTime(instant, window.tz);
  const length = windowLength(window);
  const sinceToday = local.minute - window.fromMinute;
  if (sinceToday >= 0 && sinceToday < length && window.days.has(local.weekday)) return true;
  // Started yesterday and runs past midnight.
  const sinceYesterday = sinceToday + 1440;
  return sinceYesterday < length && window.days.has((local.weekday + 6) % 7);
}

export class ServiceWindows {
  constructor(readonly windows: readonly ServiceWindow[]) {}

  /** True when the backend may be called at `now` (always, when no windows are configured). */
  isOpen(now: number): boolean {
    return this.windows.length === 0 || this.windows.some((w) => windowContains(w, now));
  }

  /** 0 when open; otherwise milliseconds until the next window opens (Infinity if none ever does). */
  msUntilOpen(now: number): number {
    if (this.isOpen(now)) return 0;
    let next = Infinity;
    for (const window of this.windows) {
      const today = localTime(now, window.tz);
      // A week and a day covers every weekday once, whatever today is.
      for (let offset = 0; offset <= 7; offset++) {
        const date = Date.UTC(today.year, today.month - 1, today.day + offset);
        if (!window.days.has(new Date(date).getUTCDay())) continue;
        const start = instantOfWallTime(date + window.fromMinute * MINUTE_MS, window.tz);
        if (start > now && start < next && this.isOpen(start)) next = start;
      }
    }
    return next - now;
  }
}

/**
 * Validates and compiles a backend's raw `windows` list. Every problem is listed, prefixed with
 * `where` (e.g. "backends.legacy.windows").
 */
export function compileServiceWindows(
  raw: unknown,
  where: string,
): { windows: ServiceWindows; problems: string[] } {
  const problems: string[] = [];
  const windows: ServiceWindow[] = [];
  if (raw === undefined || raw === null) return { windows: new ServiceWindows([]), problems };
  if (!Array.isArray(raw)) {
    return { windows: new ServiceWindows([]), problems: [`${where}: must be a list`] };
  }
  raw.forEach((entry: unknown, index) => {
    const at = `${where}[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`${at}: must be { days, from, to, tz }`);
      return;
    }
    const fields = entry as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!KNOWN_FIELDS.has(name)) problems.push(`${at}.${name}: unknown field`);
    }
    const fromMinute = parseClock(fields.from);
    const toMinute = parseClock(fields.to);
    if (fromMinute === null || fromMinute === 1440)
      problems.push(`${at}.from: must be a time "HH:MM" from 00:00 to 23:59`);
    if (toMinute === null) problems.push(`${at}.to: must be a time "HH:MM" from 00:00 to 24:00`);
    const tz = fields.tz === undefined ? "UTC" : fields.tz;
    if (typeof tz !== "string" || !validTimeZone(tz))
      problems.push(`${at}.tz: must be an IANA time zone such as Europe/Tallinn`);
    const days = new Set<number>();
    if (fields.days === undefined) {
      for (let day = 0; day < 7; day++) days.add(day);
    } else if (!Array.isArray(fields.days) || fields.days.length === 0) {
      problems.push(`${at}.days: must be a non-empty list such as [mon-fri, sun]`);
    } else {
      for (const name of fields.days) {
        const parsed = parseDays(name);
        if (parsed) parsed.forEach((day) => days.add(day));
        else problems.push(`${at}.days: "${String(name)}" is not a day or a range such as mon-fri`);
      }
    }
    if (fromMinute !== null && toMinute !== null && typeof tz === "string" && days.size > 0) {
      windows.push({ days, fromMinute, toMinute: toMinute % 1440, tz });
    }
  });
  return { windows: new ServiceWindows(problems.length > 0 ? [] : windows), problems };
}
