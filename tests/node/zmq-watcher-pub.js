// zmq-watcher-pub.js — the book's publisher, adapted only to take its endpoint from
// $ZMQ_ENDPOINT (loopback by default, where the book binds tcp://*:3000) and to load
// zeromq's v5-compatible API.
"use strict";

const fs = require("fs");
const zmq = require("zeromq/v5-compat");
const filename = process.argv[2];
const endpoint = process.env.ZMQ_ENDPOINT || "tcp://127.0.0.1:3000";

// create publisher endpoint
const publisher = zmq.socket("pub");

fs.watch(filename, () => {
  // send message to all subscribers
  publisher.send(
    JSON.stringify({
      type: "changed",
      file: filename,
      timestamp: Date.now()
    })
  );
});

// listen on the endpoint
publisher.bind(endpoint, err => {
  if (err) throw err;
  console.log("Listening for zmq subscribers");
});
