import * as net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to :0, read it, close). */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Waits until something accepts connections on 127.0.0.1:`port` (a server in a
 * container starting up), checking every 100 ms; rejects after `attempts` checks.
 * Each check's connection is reset, so waiting leaves no TIME_WAIT sockets.
 */
export async function waitForLoopbackPort(port: number, attempts = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.resetAndDestroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} never opened`);
}
