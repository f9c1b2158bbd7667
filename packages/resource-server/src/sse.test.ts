import { describe, expect, it } from 'vitest';
import { EventStreamParser } from './sse.js';

describe('EventStreamParser', () => {
  it('parses events split anywhere across chunks, with CRLF, comments and multi-line data', () => {
    const text = ': hello\r\nretry: 1500\r\n\r\nid: 1-0\r\nevent: revocation\r\ndata: {"a":1}\r\n\r\nid: 2-0\ndata: x\ndata:y\n\n';
    for (let split = 0; split <= text.length; split++) {
      const p = new EventStreamParser();
      const events = [...p.push(text.slice(0, split)), ...p.push(text.slice(split))];
      expect(events, `split at ${split}`).toEqual([
        { id: '1-0', event: 'revocation', data: '{"a":1}' },
        { id: '2-0', event: 'message', data: 'x\ny' },
      ]);
      expect(p.retry).toBe(1500);
      expect(p.lastEventId).toBe('2-0');
    }
  });

  it('keeps the last event id for events without one and ignores events without data', () => {
    const p = new EventStreamParser();
    expect(p.push('id: 5-0\n\ndata: a\n\n')).toEqual([{ id: '5-0', event: 'message', data: 'a' }]);
  });
});
