// A what-if for benchmark runs (`--preload`): loaded with `node --require`, it turns Nagle's
// algorithm off on every TCP socket of the process, as amqplib's `noDelay: true` option would.

import net from "node:net";

const setNoDelay = net.Socket.prototype.setNoDelay;
net.Socket.prototype.setNoDelay = function (this: net.Socket): net.Socket {
  return setNoDelay.call(this, true);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]): net.Socket {
  const socket = (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  socket.setNoDelay(true);
  return socket;
} as typeof net.Socket.prototype.connect;
