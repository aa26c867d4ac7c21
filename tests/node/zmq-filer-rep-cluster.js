// zmq-filer-rep-cluster.js — the book's clustered responder, adapted only to take its endpoint
// from $ZMQ_ENDPOINT (default tcp://127.0.0.1:60401, as in the book), the number of workers
// from $ZMQ_WORKERS (default: one per CPU, as in the book), the dealer's ipc path from
// $ZMQ_DEALER (default filer-dealer.ipc in the working directory, as in the book), and to load
// zeromq's v5-compatible API. Like the book's, workers read paths relative to the working
// directory.
"use strict";

const cluster = require("cluster");
const fs = require("fs");
const zmq = require("zeromq/v5-compat");

const endpoint = process.env.ZMQ_ENDPOINT || "tcp://127.0.0.1:60401";
const dealerEndpoint = `ipc://${process.env.ZMQ_DEALER || "filer-dealer.ipc"}`;
const numWorkers = Number(process.env.ZMQ_WORKERS) || require("os").cpus().length;

if (cluster.isMaster) {
  // Master process creates ROUTER and DEALER sockets and binds endpoints.
  const router = zmq.socket("router").bind(endpoint);
  const dealer = zmq.socket("dealer").bind(dealerEndpoint);

  // Forward messages between the router and dealer.
  router.on("message", (...frames) => dealer.send(frames));
  dealer.on("message", (...frames) => router.send(frames));

  // Listen for workers to come online.
  cluster.on("online", worker => console.log(`Worker ${worker.process.pid} is online.`));

  // Fork a worker process for each CPU.
  for (let i = 0; i < numWorkers; i++) {
    cluster.fork();
  }

  // Stop the workers with the master (the book leaves this to Ctrl-C on the terminal).
  process.on("SIGTERM", () => {
    for (const id in cluster.workers) {
      cluster.workers[id].kill();
    }
    router.close();
    dealer.close();
    process.exit(0);
  });
} else {
  // Worker processes create a REP socket and connect to the DEALER.
  const responder = zmq.socket("rep").connect(dealerEndpoint);

  responder.on("message", data => {
    // Parse incoming message.
    const request = JSON.parse(data);
    console.log(`${process.pid} received request for: ${request.path}`);

    // Read the file and reply with content.
    fs.readFile(request.path, (err, content) => {
      console.log(`${process.pid} sending response`);
      responder.send(
        JSON.stringify({
          content: content.toString(),
          timestamp: Date.now(),
          pid: process.pid
        })
      );
    });
  });
}
