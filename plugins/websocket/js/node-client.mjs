// A real STOMP-over-WebSocket client in node, driven by tests/test_ws_node_clients.py.
//
//   node node-client.mjs URL stompjs|stompjs-split|webstomp|stompjs-mixed
//
// With the library's default settings it connects, subscribes to /topic/to-node (with a
// receipt, then prints {"event":"ready"}), waits for 3 messages, publishes 2 (or, in
// stompjs-split mode, one 60 KiB message sent in 8 KiB WebSocket chunks) to /topic/from-node
// with receipts, disconnects, and prints {"event":"done", ...}. One JSON object per line.
//
// stompjs-mixed: subscribes to /topic/mixed, waits for 2 messages (text and binary, published
// over TCP), publishes a text body, a binary body that is not UTF-8 and a binary body that is
// to /topic/mixed, waits for those 3 to come back and reports every message with its bytes
// and the WebSocket frame type (text or binary) it came in.
import { WebSocket } from 'ws';
import { Client } from '@stomp/stompjs';
import webstomp from 'webstomp-client';

const [url, mode] = process.argv.slice(2);
const emit = (object) => process.stdout.write(JSON.stringify(object) + '\n');
const fail = (what) => {
  emit({ event: 'error', error: String(what) });
  process.exit(1);
};
setTimeout(() => fail('timed out'), 20000).unref();

const received = [];
const outgoing = mode === 'stompjs-split'
  ? [{ body: 'x'.repeat(60 * 1024) + ' ✓ split', receipt: 'r-big' }]
  : [0, 1].map((i) => ({ body: `from node ${i} ✓`, receipt: `r${i}` }));

function runStompjs(split) {
  Object.assign(globalThis, { WebSocket }); // node 20 has no global WebSocket
  const client = new Client({
    brokerURL: url,
    reconnectDelay: 0,
    splitLargeFrames: split,
    debug: () => {},
  });
  client.onConnect = (frame) => {
    emit({
      event: 'connected',
      version: frame.headers.version,
      heartBeat: frame.headers['heart-beat'],
      subprotocol: client.webSocket.protocol,
    });
    client.watchForReceipt('sub-ready', () => emit({ event: 'ready' }));
    client.subscribe('/topic/to-node', (message) => {
      received.push({ body: message.body, headers: message.headers });
      if (received.length === 3) publishAndLeave();
    }, { id: 'node-sub', receipt: 'sub-ready' });
  };
  client.onStompError = (frame) => fail(`ERROR ${frame.headers.message}`);
  client.onWebSocketError = (event) => fail(`websocket error ${event.message || event}`);
  const publishAndLeave = () => {
    let pending = outgoing.length;
    for (const { body, receipt } of outgoing) {
      client.watchForReceipt(receipt, async () => {
        if (--pending === 0) {
          client.onWebSocketClose = (event) => {
            emit({ event: 'done', received, closeCode: event.code });
            process.exit(0);
          };
          await client.deactivate();
        }
      });
      client.publish({ destination: '/topic/from-node', body, headers: { receipt } });
    }
  };
  client.activate();
}

function runWebstomp() {
  const socket = new WebSocket(url, webstomp.VERSIONS.supportedProtocols());
  const client = webstomp.over(socket, { debug: false }); // defaults: text frames, heart-beats 10000,10000
  client.connect({}, (frame) => {
    emit({
      event: 'connected',
      version: frame.headers.version,
      heartBeat: frame.headers['heart-beat'],
      subprotocol: socket.protocol,
    });
    client.onreceipt = (receiptFrame) => {
      const id = receiptFrame.headers['receipt-id'];
      if (id === 'sub-ready') emit({ event: 'ready' });
      if (id === outgoing[outgoing.length - 1].receipt) {
        client.disconnect(() => {
          emit({ event: 'done', received });
          process.exit(0);
        });
      }
    };
    client.subscribe('/topic/to-node', (message) => {
      received.push({ body: message.body, headers: message.headers });
      if (received.length === 3) {
        for (const { body, receipt } of outgoing) client.send('/topic/from-node', body, { receipt });
      }
    }, { id: 'node-sub', receipt: 'sub-ready' });
  }, (error) => fail(`connect failed: ${error.headers ? error.headers.message : error}`));
}

// The WebSocket frame type of each MESSAGE, in order (text: a string; binary: an ArrayBuffer).
function frameKind(data) {
  if (typeof data === 'string') return data.startsWith('MESSAGE') ? 'text' : null;
  const head = new TextDecoder().decode(new Uint8Array(data, 0, Math.min(7, data.byteLength)));
  return head === 'MESSAGE' ? 'binary' : null;
}

function runStompjsMixed() {
  Object.assign(globalThis, { WebSocket });
  const client = new Client({ brokerURL: url, reconnectDelay: 0, debug: () => {} });
  const kinds = [];
  const mine = [
    { body: 'from node \u2713', receipt: 'r-text' },
    { binaryBody: new Uint8Array([0xff, 0x00, 0xc3, 0x28, 0x80, 0x41]), receipt: 'r-binary' },
    { binaryBody: new TextEncoder().encode('utf-8 sent as binary \u2713'), receipt: 'r-utf8' },
  ];
  let receipts = 0;
  const finish = async () => {
    if (received.length < 5 || receipts < mine.length) return;
    received.forEach((message, index) => { message.kind = kinds[index]; });
    client.onWebSocketClose = () => {
      emit({ event: 'done', received });
      process.exit(0);
    };
    await client.deactivate();
  };
  client.onConnect = (frame) => {
    emit({ event: 'connected', version: frame.headers.version, subprotocol: client.webSocket.protocol });
    client.webSocket.addEventListener('message', (event) => {
      const kind = frameKind(event.data);
      if (kind) kinds.push(kind);
    });
    client.watchForReceipt('sub-ready', () => emit({ event: 'ready' }));
    client.subscribe('/topic/mixed', (message) => {
      received.push({ bytes: Array.from(message.binaryBody), body: message.body, headers: message.headers });
      if (received.length === 2) {
        for (const { receipt, ...content } of mine) {
          client.watchForReceipt(receipt, () => { receipts += 1; finish(); });
          client.publish({ destination: '/topic/mixed', headers: { receipt }, ...content });
        }
      }
      finish();
    }, { id: 'node-sub', receipt: 'sub-ready' });
  };
  client.onStompError = (frame) => fail(`ERROR ${frame.headers.message}`);
  client.onWebSocketError = (event) => fail(`websocket error ${event.message || event}`);
  client.onWebSocketClose = (event) => fail(`closed ${event.code} ${event.reason}`);
  client.activate();
}

if (mode === 'webstomp') runWebstomp();
else if (mode === 'stompjs-mixed') runStompjsMixed();
else if (mode === 'stompjs' || mode === 'stompjs-split') runStompjs(mode === 'stompjs-split');
else fail(`unknown mode ${mode}`);
