// zmq-watcher-sub.js — the book's subscriber, adapted only to take its endpoint from
// $ZMQ_ENDPOINT (default tcp://localhost:3000, as in the book) and to load zeromq's
// v5-compatible API.
"use strict";

const zmq = require("zeromq/v5-compat");
const endpoint = process.env.ZMQ_ENDPOINT || "tcp://localhost:3000";

// create subscriber endpoint
const subscriber = zmq.socket("sub");

// subscribe to all messages
subscriber.subscribe("");
// can provide a filter if you only want to listen to specific messages

// handle messages from publisher
subscriber.on("message", data => {
  const message = JSON.parse(data);
  const date = new Date(message.timestamp);
  console.log(`File ${message.file} changed at ${date}`);
});

// connect to publisher
subscriber.connect(endpoint);
