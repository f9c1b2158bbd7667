/**
 * A deliberately naive Server-Sent Events reader for tests, independent of the
 * product's own parser (src/resource-server/sse.ts) so a bug there can't hide
 * a bug in what the server sends. Calls `onEvent` for each event with data.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (e: { id?: string; event?: string; data: string }) => void): Promise<void> {
  let buffer = '';
  const decoder = new TextDecoder();
  const reader = body.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    buffer += decoder.decode(next.value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      if (fields.data !== undefined) onEvent({ id: fields.id, event: fields.event, data: fields.data });
    }
  }
}
