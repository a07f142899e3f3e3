/**
 * ECDSA signatures arrive from GitHub as ASN.1 DER, `SEQUENCE { INTEGER r,
 * INTEGER s }`, but WebCrypto's ECDSA verify takes the fixed-width raw form
 * r‖s (IEEE P1363) and, given DER, quietly answers false. This converts one to
 * the other and refuses every encoding that is not strict DER. A lax parser is
 * how signature libraries have been tricked before (BER lengths, extra bytes,
 * negative numbers), so anything unusual is refused rather than repaired.
 */

const SEQUENCE = 0x30;
const INTEGER = 0x02;

/**
 * The raw r‖s (2 × `size` bytes; 32 for P-256) of a DER ECDSA signature, or
 * null when `der` is not a strict DER encoding of two positive integers that
 * fit in `size` bytes. Never throws.
 */
export function derToRawSignature(der: Uint8Array, size = 32): Uint8Array<ArrayBuffer> | null {
  if (!Number.isInteger(size) || size < 1) return null;
  const sequence = readElement(der, 0, SEQUENCE);
  // The sequence must be the whole input: trailing bytes would let different
  // byte strings count as the same signature.
  if (!sequence || sequence.end !== der.length) return null;

  const r = readElement(der, sequence.start, INTEGER);
  if (!r) return null;
  const s = readElement(der, r.end, INTEGER);
  // Exactly two integers and nothing else inside the sequence.
  if (!s || s.end !== sequence.end) return null;

  const raw = new Uint8Array(2 * size);
  if (!writeInteger(der.subarray(r.start, r.end), raw, 0, size)) return null;
  if (!writeInteger(der.subarray(s.start, s.end), raw, size, size)) return null;
  return raw;
}

interface Element {
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the last content byte. */
  end: number;
}

/** The element with tag `tag` at `offset`, if its length is strict DER and lies within `bytes`. */
function readElement(bytes: Uint8Array, offset: number, tag: number): Element | null {
  if (bytes[offset] !== tag) return null;
  const first = bytes[offset + 1];
  if (first === undefined) return null;

  let length: number;
  let start: number;
  if (first < 0x80) {
    length = first;
    start = offset + 2;
  } else {
    // Long form: 0x80 | number of length bytes. 0x80 alone is BER's
    // indefinite length, which DER forbids; more than two length bytes is
    // far beyond any signature, so refusing it keeps the arithmetic small.
    const count = first & 0x7f;
    if (count < 1 || count > 2) return null;
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = bytes[offset + 2 + i];
      if (b === undefined) return null;
      length = length * 256 + b;
    }
    // DER wants the shortest form: long form only for lengths of 128 and
    // up, and no leading zero length byte. Otherwise the same signature
    // would have several encodings.
    if (length < 0x80 || (count === 2 && length < 0x100)) return null;
    start = offset + 2 + count;
  }
  const end = start + length;
  // A length that runs past the input is refused, never truncated.
  if (end > bytes.length) return null;
  return { start, end };
}

/**
 * Writes the DER INTEGER content `value` into `out[at .. at+size)`, left-padded
 * with zeros. False when it is empty, negative, zero, non-minimal or too wide.
 */
function writeInteger(value: Uint8Array, out: Uint8Array, at: number, size: number): boolean {
  const first = value[0];
  if (first === undefined) return false; // a zero-length INTEGER is invalid DER
  // The high bit is the sign: r and s are positive, so a set bit means a
  // negative number, not a big one (WebCrypto never sees it).
  if (first & 0x80) return false;

  let digits = value;
  if (first === 0x00) {
    const second = value[1];
    // A lone 0x00 is the number zero: r = 0 or s = 0 is never a valid
    // signature and is refused here rather than left to the verifier.
    if (second === undefined) return false;
    // A 0x00 is allowed only to keep a set high bit from reading as a
    // sign; before a byte below 0x80 it is padding DER does not allow.
    if (!(second & 0x80)) return false;
    digits = value.subarray(1);
  }
  // Wider than the curve (e.g. 33 bytes without the sign pad): not ours.
  if (digits.length > size) return false;
  out.set(digits, at + size - digits.length);
  return true;
}
