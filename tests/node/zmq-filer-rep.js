// zmq-filer-rep.js — the book's responder, adapted only to take its endpoint from
// $ZMQ_ENDPOINT (default tcp://127.0.0.1:3000, as in the book) and to load zeromq's
// v5-compatible API. Like the book's, it reads paths relative to its working directory.
"use strict";

const fs = require("fs");
const zmq = require("zeromq/v5-compat");
const endpoint = process.env.ZMQ_ENDPOINT || "tcp://127.0.0.1:3000";

// socket to reply to client requests
const responder = zmq.socket("rep");

// handle incoming requests
responder.on("message", data => {
  // parse the incoming message
  const request = JSON.parse(data);
  console.log(`Received request: ${request.path}`);

  // read the file and reply with content
  fs.readFile(request.path, (err, content) => {
    console.log("Sending response content");
    responder.send(
      JSON.stringify({
        content: content.toString(),
        timestamp: Date.now(),
        pid: process.pid
      })
    );
  });
});

// bind to the endpoint
responder.bind(endpoint, err => {
  console.log("Listening for zmq requesters");
});

// close responder when the process ends
process.on("SIGINT", () => {
  console.log("Shutting down");
  responder.close();
});
