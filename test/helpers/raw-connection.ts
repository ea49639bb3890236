import { connect, type Socket } from 'node:net';

// Connections written byte by byte, for tests of how a server ends them: a request held half sent,
// an idle keep-alive connection, a connection attempt while the listener closes.

/** A raw TCP connection: what it received, and when it closed. */
export interface RawConnection {
  readonly socket: Socket;
  received(): string;
  readonly closed: Promise<void>;
}

export function openConnection(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.setEncoding('latin1').on('data', (d: string) => (text += d));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {}); // a cut shows as 'close'
      resolve({ socket, received: () => text, closed });
    });
  });
}

/** Resolves with the first complete response (it must carry Content-Length) received on `conn`. */
export async function responseOn(conn: RawConnection): Promise<{ status: number; head: string; body: string }> {
  for (;;) {
    const text = conn.received();
    const end = text.indexOf('\r\n\r\n');
    if (end >= 0) {
      const head = text.slice(0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (text.length >= end + 4 + length) return { status: Number(head.split(' ')[1]), head, body: text.slice(end + 4, end + 4 + length) };
    }
    const more = await Promise.race([new Promise<boolean>((r) => conn.socket.once('data', () => r(true))), conn.closed.then(() => false)]);
    if (!more) throw new Error(`connection closed before a complete response: ${JSON.stringify(conn.received())}`);
  }
}

/**
 * Whether a new connection to `port` is refused within `ms`, trying every 50 ms: the test sees the
 * shutdown begin in the log, a moment before the listener closes, and cannot time it closer.
 */
export async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const refused = await openConnection(port).then(
      (conn) => {
        conn.socket.destroy();
        return false;
      },
      (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
    );
    if (refused) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** 'closed' when `conn` closes within `ms`, else 'open'. */
export function closesWithin(conn: RawConnection, ms: number): Promise<'closed' | 'open'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    conn.closed.then(() => 'closed' as const),
    new Promise<'open'>((r) => (timer = setTimeout(() => r('open'), ms))),
  ]).finally(() => clearTimeout(timer));
}
