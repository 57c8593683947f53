/**
 * The two messages of grpc.health.v1 (grpc/health/v1/health.proto), encoded by hand:
 *
 * ```proto
 * message HealthCheckRequest { string service = 1; }
 * message HealthCheckResponse {
 *   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
 *   ServingStatus status = 1;
 * }
 * ```
 */

/** The method path of the health check. */
export const healthCheckPath = '/grpc.health.v1.Health/Check';

/** Names of `HealthCheckResponse.ServingStatus` values. */
export const servingStatusNames: Readonly<Record<number, string>> = {
  0: 'UNKNOWN',
  1: 'SERVING',
  2: 'NOT_SERVING',
  3: 'SERVICE_UNKNOWN',
};

function encodeVarint(value: number, out: number[]): void {
  let v = value >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** Encodes `HealthCheckRequest { service }` (an empty service encodes to no bytes). */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const bytes = Buffer.from(service, 'utf8');
  const head: number[] = [0x0a];
  encodeVarint(bytes.length, head);
  return Buffer.concat([Buffer.from(head), bytes]);
}

/** Encodes `HealthCheckResponse { status }` (for test servers). */
export function encodeHealthCheckResponse(status: number): Buffer {
  if (status === 0) return Buffer.alloc(0);
  const out: number[] = [0x08];
  encodeVarint(status, out);
  return Buffer.from(out);
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    if (shift < 32) result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

/** Decodes the `service` of a `HealthCheckRequest` (for test servers); unknown fields are skipped. */
export function decodeHealthCheckRequest(buf: Uint8Array): string {
  let service = '';
  forEachField(buf, (field, wire, value) => {
    if (field === 1 && wire === 2 && value instanceof Uint8Array)
      service = Buffer.from(value).toString('utf8');
  });
  return service;
}

/** Decodes the `status` of a `HealthCheckResponse` (0 when absent); unknown fields are skipped. */
export function decodeHealthCheckResponse(buf: Uint8Array): number {
  let status = 0;
  forEachField(buf, (field, wire, value) => {
    if (field === 1 && wire === 0 && typeof value === 'number') status = value;
  });
  return status;
}

function forEachField(
  buf: Uint8Array,
  fn: (field: number, wire: number, value: number | Uint8Array) => void,
): void {
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [v, p2] = readVarint(buf, pos);
      pos = p2;
      fn(field, wire, v);
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      if (p2 + len > buf.length) throw new Error('truncated field');
      fn(field, wire, buf.subarray(p2, p2 + len));
      pos = p2 + len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}
