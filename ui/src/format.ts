// Decimal-string helpers. Money stays a string (or a BigInt of scaled units)
// everywhere except when it is handed to a chart.

interface Parts {
  neg: boolean;
  int: string; // digits, no leading zeros except a single "0"
  frac: string; // digits, may be empty
}

const DECIMAL_RE = /^[+-]?(\d+\.?\d*|\.\d+)$/;

/** True for a plain decimal string such as "12", "0.5", "-3.25". */
export function isDecimal(s: string): boolean {
  return DECIMAL_RE.test(s.trim());
}

function parts(s: string): Parts {
  let t = String(s).trim();
  let neg = false;
  if (t.startsWith('-')) {
    neg = true;
    t = t.slice(1);
  } else if (t.startsWith('+')) {
    t = t.slice(1);
  }
  const dot = t.indexOf('.');
  let int = dot < 0 ? t : t.slice(0, dot);
  const frac = dot < 0 ? '' : t.slice(dot + 1);
  int = int.replace(/^0+(?=\d)/, '');
  if (int === '') int = '0';
  if (!/^\d+$/.test(int) || !/^\d*$/.test(frac)) {
    return { neg: false, int: '0', frac: '' };
  }
  return { neg, int, frac };
}

/** Number of digits after the point, trailing zeros included ("1.50" -> 2). */
export function fracLen(s: string): number {
  return parts(s).frac.length;
}

/**
 * Decimals implied by a step such as a market's tick or lot:
 * "0.01" -> 2, "0.0010" -> 3, "1" -> 0, "5" -> 0, "1e-8" -> 8.
 */
export function decimalsOf(step: string): number {
  const t = String(step).trim().toLowerCase();
  const e = t.indexOf('e');
  if (e >= 0) {
    const mant = decimalsOf(t.slice(0, e));
    const exp = parseInt(t.slice(e + 1), 10) || 0;
    return Math.max(0, mant - exp);
  }
  return parts(t).frac.replace(/0+$/, '').length;
}

/** The value as an integer count of 10^-decimals units (extra digits are cut off). */
export function toScaled(s: string, decimals: number): bigint {
  const p = parts(s);
  const frac = (p.frac + '0'.repeat(decimals)).slice(0, decimals);
  const v = BigInt(p.int + frac);
  return p.neg ? -v : v;
}

/** Inverse of toScaled: 12345n, 2 -> "123.45". */
export function fromScaled(v: bigint, decimals: number): string {
  const neg = v < 0n;
  let digits = (neg ? -v : v).toString();
  if (decimals > 0) {
    digits = digits.padStart(decimals + 1, '0');
    digits = `${digits.slice(0, digits.length - decimals)}.${digits.slice(digits.length - decimals)}`;
  }
  return (neg && v !== 0n ? '-' : '') + digits;
}

/** Pads or rounds (half away from zero) to exactly `decimals` digits after the point. */
export function fixed(s: string, decimals: number): string {
  const p = parts(s);
  const sign = p.neg ? -1n : 1n;
  if (p.frac.length <= decimals) {
    const frac = p.frac.padEnd(decimals, '0');
    const out = decimals > 0 ? `${p.int}.${frac}` : p.int;
    return p.neg && /[1-9]/.test(out) ? `-${out}` : out;
  }
  let kept = BigInt(p.int + p.frac.slice(0, decimals));
  if (p.frac.charCodeAt(decimals) >= 53 /* '5' */) kept += 1n;
  return fromScaled(kept * sign, decimals);
}

/** Removes trailing zeros after the point ("1.2500" -> "1.25", "3.000" -> "3"). */
/** A price for display, or an em dash when there is none ("0" means no trade yet). */
export function priceOrDash(s: string | undefined, decimals: number): string {
  return s && !isZero(s) ? fixed(s, decimals) : '—';
}

export function trimZeros(s: string): string {
  const p = parts(s);
  const frac = p.frac.replace(/0+$/, '');
  const out = frac ? `${p.int}.${frac}` : p.int;
  return p.neg && out !== '0' ? `-${out}` : out;
}

/** Compares two decimal strings numerically: -1, 0 or 1. */
export function compareDec(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  const za = isZeroParts(pa);
  const zb = isZeroParts(pb);
  const na = pa.neg && !za;
  const nb = pb.neg && !zb;
  if (na !== nb) return na ? -1 : 1;
  const mag = compareMagnitude(pa, pb);
  return na ? -mag : mag;
}

function isZeroParts(p: Parts): boolean {
  return p.int === '0' && !/[1-9]/.test(p.frac);
}

function compareMagnitude(a: Parts, b: Parts): number {
  if (a.int.length !== b.int.length) return a.int.length < b.int.length ? -1 : 1;
  if (a.int !== b.int) return a.int < b.int ? -1 : 1;
  const n = Math.max(a.frac.length, b.frac.length);
  const fa = a.frac.padEnd(n, '0');
  const fb = b.frac.padEnd(n, '0');
  if (fa === fb) return 0;
  return fa < fb ? -1 : 1;
}

export function isZero(s: string): boolean {
  return isZeroParts(parts(s));
}

export function addDec(a: string, b: string): string {
  const d = Math.max(fracLen(a), fracLen(b));
  return fromScaled(toScaled(a, d) + toScaled(b, d), d);
}

export function subDec(a: string, b: string): string {
  const d = Math.max(fracLen(a), fracLen(b));
  return fromScaled(toScaled(a, d) - toScaled(b, d), d);
}

/** Exact product. */
export function mulDec(a: string, b: string): string {
  const da = fracLen(a);
  const db = fracLen(b);
  return fromScaled(toScaled(a, da) * toScaled(b, db), da + db);
}

/** a / b truncated toward zero to `decimals` digits; null when b is zero. */
export function divDec(a: string, b: string, decimals: number): string | null {
  const d = Math.max(fracLen(a), fracLen(b));
  const bs = toScaled(b, d);
  if (bs === 0n) return null;
  const as = toScaled(a, d);
  return fromScaled((as * 10n ** BigInt(decimals)) / bs, decimals);
}

/** Largest multiple of `step` that is <= value (value >= 0). */
export function floorToStep(value: string, step: string): string {
  const d = Math.max(fracLen(value), fracLen(step), decimalsOf(step));
  const st = toScaled(step, d);
  if (st <= 0n) return value;
  const v = toScaled(value, d);
  const out = v < 0n ? 0n : (v / st) * st;
  return fixed(fromScaled(out, d), decimalsOf(step));
}

/**
 * Percentage change from `from` to `to` with two decimals and an explicit sign
 * ("+1.23", "-0.40", "0.00"); null when `from` is zero or missing.
 */
export function pctChange(from: string | undefined, to: string | undefined, decimals = 2): string | null {
  if (!from || !to || !isDecimal(from) || !isDecimal(to) || isZero(from)) return null;
  const diff = subDec(to, from);
  const ratio = divDec(mulDec(diff, '100'), from, decimals + 1);
  if (ratio === null) return null;
  const r = fixed(ratio, decimals);
  if (isZero(r)) return fixed('0', decimals);
  return r.startsWith('-') ? r : `+${r}`;
}

/** Sign of a decimal string: -1, 0 or 1. */
export function signOf(s: string): number {
  return compareDec(s, '0');
}

/** "1234567.89" -> "1,234,567.89" (display only). */
export function groupThousands(s: string): string {
  const p = parts(s);
  const int = p.int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const out = p.frac ? `${int}.${p.frac}` : int;
  return p.neg ? `-${out}` : out;
}

/** Compact display of a large amount: "1234567.8" -> "1.23M". Display only. */
export function compact(s: string): string {
  const p = parts(s);
  const n = p.int.length;
  const units: [number, string][] = [
    [13, 'T'],
    [10, 'B'],
    [7, 'M'],
    [4, 'K'],
  ];
  for (const [digits, suffix] of units) {
    if (n >= digits) {
      const shift = digits - 1;
      const whole = p.int.slice(0, n - shift);
      const rest = p.int.slice(n - shift);
      return (p.neg ? '-' : '') + fixed(`${whole}.${rest}`, 2) + suffix;
    }
  }
  return fixed(s, 2);
}

/** Local HH:MM:SS of a millisecond timestamp. */
export function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Local "MM-DD HH:MM:SS" of a millisecond timestamp. */
export function dateTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock(ms)}`;
}
