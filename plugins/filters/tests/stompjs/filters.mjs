// @stomp/stompjs subscribers with selectors and filters, against xtomp over plain TCP.
//
// stompjs talks to a WebSocket; xtomp's WebSocket transport is a separate plugin, so this
// script hands stompjs a WebSocket-shaped adapter over node's net.Socket (stompjs accepts
// any such object through `webSocketFactory`). Usage: node filters.mjs PORT
// Prints one JSON line: {"received": [[subscription, body], ...], "errors": [message, ...]}.
import net from 'node:net';
import { Client } from '@stomp/stompjs';

const port = Number(process.argv[2]);
const host = '127.0.0.1';

class TcpWebSocket {
  constructor() {
    this.url = `tcp://${host}:${port}`;
    this.protocol = '';
    this.binaryType = 'arraybuffer';
    this.readyState = 0; // CONNECTING
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.socket = net.createConnection({ host, port }, () => {
      this.readyState = 1; // OPEN
      if (this.onopen) this.onopen({});
    });
    this.socket.on('data', (chunk) => {
      // stompjs parses ArrayBuffers incrementally: any split of frames across chunks is fine.
      const data = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength);
      if (this.onmessage) this.onmessage({ data });
    });
    this.socket.on('error', (error) => {
      if (this.onerror) this.onerror(error);
    });
    this.socket.on('close', (hadError) => {
      this.readyState = 3; // CLOSED
      if (this.onclose) this.onclose({ code: hadError ? 1006 : 1000, reason: '', wasClean: !hadError });
    });
  }

  send(data) {
    this.socket.write(typeof data === 'string' ? data : Buffer.from(data));
  }

  close() {
    if (this.readyState < 2) {
      this.readyState = 2; // CLOSING
      this.socket.end();
    }
  }
}

function client(onStompError = () => {}) {
  return new Client({
    webSocketFactory: () => new TcpWebSocket(),
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    reconnectDelay: 0,
    onStompError,
  });
}

function connected(stomp) {
  return new Promise((resolve) => {
    stomp.onConnect = () => resolve(stomp);
    stomp.activate();
  });
}

function receipt(stomp, id) {
  return new Promise((resolve) => stomp.watchForReceipt(id, resolve));
}

const received = [];
const errors = [];
const destination = '/topic/stompjs';
const subscriptions = {
  eu: { selector: "region = 'eu'" },
  big: { selector: "region = 'eu' AND amount >= 1000" },
  pay: { selector: "\"x-kind\" LIKE 'pay%' OR amount BETWEEN 1 AND 9" },
  blue: { filter: 'colour=blue' },
};
const messages = [
  ['m1', { region: 'eu', amount: '999.5', colour: 'blue' }],
  ['m2', { region: 'eu', amount: '1000' }],
  ['m3', { region: 'us', 'x-kind': 'payment', amount: 'n/a' }],
  ['m4', { amount: '5', colour: 'red' }],
];
const expected = 6; // eu:m1 eu:m2 big:m2 pay:m3 pay:m4 blue:m1

const timer = setTimeout(() => finish(1), 15000);

function finish(code) {
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ received, errors }) + '\n');
  process.exit(code);
}

const subscriber = await connected(client());
const ready = [];
for (const [id, headers] of Object.entries(subscriptions)) {
  const done = receipt(subscriber, `r-${id}`);
  subscriber.subscribe(destination, (message) => {
    received.push([message.headers.subscription, message.body]);
  }, { id, receipt: `r-${id}`, ...headers });
  ready.push(done);
}
await Promise.all(ready);

// A selector that does not parse: the broker answers with an ERROR frame and closes.
const bad = client((frame) => errors.push(frame.headers.message));
await connected(bad);
bad.subscribe(destination, () => {}, { id: 'bad', selector: "region = 'eu' AND" });

const publisher = await connected(client());
for (const [body, headers] of messages) {
  publisher.publish({ destination, body, headers });
}
const sent = receipt(publisher, 'sent');
publisher.publish({ destination: '/topic/elsewhere', body: '', headers: { receipt: 'sent' } });
await sent;

const deadline = Date.now() + 10000;
while ((received.length < expected || errors.length < 1) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await new Promise((resolve) => setTimeout(resolve, 200)); // anything unexpected arrives too
await subscriber.deactivate();
await publisher.deactivate();
finish(0);
