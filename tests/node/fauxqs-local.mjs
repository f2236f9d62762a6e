// fauxqs-local.mjs: npm fauxqs (an SQS-compatible server, JSON protocol)
// bound to 127.0.0.1 only, handing out queue URLs built from the request's
// Host header (http://127.0.0.1:PORT/000000000000/NAME). Started by
// tests/servers/start-fauxqs; prints "fauxqs ready on URL" when listening.
// The deep imports use file paths because the package's exports map hides
// them: re-check after upgrading fauxqs (pinned in package.json).
import { buildApp } from "fauxqs";
import { SqsStore } from "./node_modules/fauxqs/dist/sqs/sqsStore.js";
import { SnsStore } from "./node_modules/fauxqs/dist/sns/snsStore.js";
import { S3Store } from "./node_modules/fauxqs/dist/s3/s3Store.js";

const port = Number(process.env.FAUXQS_PORT || 4566);
const sqsStore = new SqsStore();
sqsStore.host = undefined;
const app = buildApp({ logger: false,
    stores: { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() } });
await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs ready on http://127.0.0.1:${port}`);
