// The baseline for `festival-bench`: a Socket.IO chat relay with the same behaviour as
// festival-relay's hot path (join a room, broadcast each chat to every member, sender too),
// as the seed's Node.js server did. No storage: the baseline is given the benefit.
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 0);
const server = http.createServer();
const io = new Server(server, { serveClient: false, transports: ["websocket"] });

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string" || room.length === 0 || room.length > 64) return;
    socket.join(room);
    if (typeof ack === "function") ack({ room, online: io.sockets.adapter.rooms.get(room)?.size ?? 0 });
  });
  socket.on("chat", (msg) => {
    if (!msg || typeof msg.room !== "string" || typeof msg.body !== "string") return;
    if (msg.body.length > 4096 || !socket.rooms.has(msg.room)) return;
    io.to(msg.room).emit("chat", { room: msg.room, body: msg.body, sent_at: msg.sent_at, from: socket.id });
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`socket.io listening on ${server.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
