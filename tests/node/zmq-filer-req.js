// zmq-filer-req.js — the book's requester, adapted only to take its endpoint from
// $ZMQ_ENDPOINT (default tcp://localhost:3000, as in the book) and to load zeromq's
// v5-compatible API.
"use strict";

const zmq = require("zeromq/v5-compat");
const filename = process.argv[2];
const endpoint = process.env.ZMQ_ENDPOINT || "tcp://localhost:3000";

// create a request endpoint
const requester = zmq.socket("req");

// handle replies from the responder
requester.on("message", data => {
  const response = JSON.parse(data);
  console.log("Received response", response);
});

requester.connect(endpoint);

// send a request for content
console.log(`Sending a request for ${filename}`);
requester.send(JSON.stringify({ path: filename }));
