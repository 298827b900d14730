/**
 * Is this request from Discord? Every interaction arrives signed: Ed25519 over the `X-Signature-Timestamp` header's
 * value followed by the raw body, the signature in `X-Signature-Ed25519` (hex), checked with the application's public
 * key. Discord requires the check on every request and a 401 when it fails; it also sends invalid signatures on
 * purpose to see that the endpoint refuses them:
 * https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
 *
 * Discord's documentation stops there. A signed request replayed later would still verify, so two more rules hold
 * here: the timestamp must be within {@link MAX_SKEW_SECONDS} of this machine's clock, and an interaction id is
 * answered once (ids seen in that window are remembered by {@link ReplayGuard}).
 */
import { type KeyObject, createPublicKey, verify } from 'node:crypto';

/** How far a request's signed timestamp may be from this machine's clock, either way. */
export const MAX_SKEW_SECONDS = 300;

/** The application's public key (64 hex digits, as the Developer Portal shows it) as a Node key object. */
export function discordPublicKey(hex: string): KeyObject {
  const raw = Buffer.from(hex, 'hex');
  if (raw.length !== 32 || !/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('a Discord public key is 64 hex digits');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

/** Checks one request's signature and timestamp; `reason` says what was wrong (for the 401 body and the log). */
export function checkSignature(key: KeyObject, signatureHex: string | undefined, timestamp: string | undefined, rawBody: Buffer | string, nowMs: number): SignatureCheck {
  if (!signatureHex || !timestamp) return { ok: false, reason: 'missing X-Signature-Ed25519 or X-Signature-Timestamp' };
  if (!/^[0-9a-fA-F]{128}$/.test(signatureHex)) return { ok: false, reason: 'invalid request signature' };
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const signed = Buffer.concat([Buffer.from(timestamp, 'utf8'), body]);
  if (!verify(null, signed, key, Buffer.from(signatureHex, 'hex'))) return { ok: false, reason: 'invalid request signature' };
  // Only a verified timestamp is worth reading: Discord sends Unix seconds.
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (!Number.isFinite(seconds)) return { ok: false, reason: 'invalid X-Signature-Timestamp' };
  const skew = nowMs / 1000 - seconds;
  if (skew > MAX_SKEW_SECONDS) return { ok: false, reason: `request timestamp is ${Math.round(skew)} s old (a replay?)` };
  if (skew < -MAX_SKEW_SECONDS) return { ok: false, reason: `request timestamp is ${Math.round(-skew)} s ahead of this clock` };
  return { ok: true, timestamp: seconds };
}

/** Interaction ids answered within the skew window: the same signed request sent twice is answered once. */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** True the first time `id` is seen (and remembers it); false for a repeat within the window. */
  firstTime(id: string, nowMs: number): boolean {
    for (const [known, until] of this.seen) if (until < nowMs) this.seen.delete(known);
    if (this.seen.has(id)) return false;
    this.seen.set(id, nowMs + 2 * MAX_SKEW_SECONDS * 1000);
    return true;
  }
}
