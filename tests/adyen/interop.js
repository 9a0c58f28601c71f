// Adyen's own Node library (@adyen/api-library, pinned in package.json) as the other end of the
// till's terminal driver: tests/integration/test_adyen_interop.py starts this once and talks to it
// one JSON line per command on stdin, one JSON line per answer on stdout.
//
// Everything here is the library doing its own work: NexoCrypto encrypts and decrypts, the
// ObjectSerializer and the Terminal API models read and write the messages, TerminalLocalAPI with its
// HttpURLConnectionClient sends them (chunked, over HTTPS, checking the terminal's certificate the
// way Adyen's terminals are checked). The only liberty taken: the local endpoint's port. The library
// always appends ":8443/nexo/" to terminalApiLocalEndpoint; the simulator listens on a free port.
"use strict";

const readline = require("readline");
const { Client, Config, EnvironmentEnum, HttpURLConnectionClient, NexoCrypto, TerminalLocalAPI, Types } =
    require("@adyen/api-library");
const NexoDerivedKeyGenerator =
    require("@adyen/api-library/lib/src/security/nexoDerivedKeyGenerator").default;

const terminal = Types.terminal;
const { ObjectSerializer } = terminal;
const PRIMITIVES = ["string", "boolean", "double", "integer", "long", "float", "number"];

// Every problem a message has against the library's models: fields the models do not know (the
// serializer would silently drop them), values of the wrong JSON type, strings outside an enum.
function check(data, type, path, problems) {
    if (data === undefined || data === null || type === "any" || type === "object") {
        return;
    }
    if (PRIMITIVES.includes(type.toLowerCase())) {
        const want = type.toLowerCase() === "string" ? "string" : type.toLowerCase() === "boolean" ? "boolean" : "number";
        if (typeof data !== want) {
            problems.push(`${path}: ${JSON.stringify(data)} is not a ${want}`);
        }
        return;
    }
    if (type.startsWith("Array<")) {
        if (!Array.isArray(data)) {
            problems.push(`${path}: not an array`);
            return;
        }
        const sub = type.slice("Array<".length, -1);
        data.forEach((item, i) => check(item, sub, `${path}[${i}]`, problems));
        return;
    }
    if (type === "Date") {
        if (typeof data !== "string" || Number.isNaN(Date.parse(data))) {
            problems.push(`${path}: ${JSON.stringify(data)} is not a date`);
        }
        return;
    }
    const model = terminal[type];
    if (model === undefined) {
        return;  // a type the models leave open
    }
    if (typeof model.getAttributeTypeMap !== "function") {  // an enum: its members map name -> name
        if (typeof data !== "string" || model[data] !== data) {
            problems.push(`${path}: ${JSON.stringify(data)} is not a ${type}`);
        }
        return;
    }
    if (typeof data !== "object" || Array.isArray(data)) {
        problems.push(`${path}: not an object (${type})`);
        return;
    }
    const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
    for (const [name, value] of Object.entries(data)) {
        if (!attributes.has(name)) {
            problems.push(`${path}.${name}: not a field of ${type}`);
        } else {
            check(value, attributes.get(name), `${path}.${name}`, problems);
        }
    }
}

// The typed object as plain JSON: undefined fields left out, as JSON.stringify does.
function plain(typed) {
    return typed === undefined ? null : JSON.parse(JSON.stringify(typed));
}

function typed(json, type) {
    const problems = [];
    check(json, type, type, problems);
    const instance = ObjectSerializer.deserialize(json, type);
    return { problems, typed: plain(instance), classes: classNames(instance) };
}

// Constructor names along the typed tree ("SaleToPOIResponse.PaymentResponse": "PaymentResponse"):
// proof that the library built its own model classes, not plain objects.
function classNames(value, path = "", out = {}) {
    if (value && typeof value === "object") {
        if (!Array.isArray(value)) {
            out[path || "."] = value.constructor ? value.constructor.name : "?";
        }
        for (const [k, v] of Object.entries(value)) {
            classNames(v, path ? `${path}.${k}` : k, out);
        }
    }
    return out;
}

function localApi(endpoint, certificate) {
    const config = new Config({
        environment: EnvironmentEnum.TEST,
        apiKey: "not-used-by-a-terminal-on-the-lan",
        certificatePath: certificate,
        terminalApiLocalEndpoint: "https://127.0.0.1",
        connectionTimeoutMillis: 20000,
    });
    const client = new Client(config);
    const api = new TerminalLocalAPI(client);
    if (api.localRequest.endpoint !== "https://127.0.0.1:8443/nexo/") {
        throw new Error(`the library's local endpoint changed shape: ${api.localRequest.endpoint}`);
    }
    api.localRequest.endpoint = endpoint;
    return api;
}

async function run(cmd) {
    switch (cmd.op) {
    case "derive": {
        const dk = NexoDerivedKeyGenerator.deriveKeyMaterial(cmd.passphrase);
        return { hmacKey: dk.hmacKey.toString("hex"), cipherKey: dk.cipherKey.toString("hex"),
            iv: dk.iv.toString("hex") };
    }
    case "check":  // a message against the models, without sending it
        return typed(cmd.message, cmd.type);
    case "encrypt": {  // what TerminalLocalAPI.request does before it sends
        const request = ObjectSerializer.deserialize(cmd.request, "TerminalApiRequest");
        const plaintext = JSON.stringify(ObjectSerializer.serialize(request, "TerminalApiRequest"));
        const secured = NexoCrypto.encrypt(request.SaleToPOIRequest.MessageHeader, plaintext, cmd.key);
        return { plaintext, secured: ObjectSerializer.serialize({ SaleToPOIRequest: secured },
            "TerminalApiSecuredRequest") };
    }
    case "decrypt": {  // what TerminalLocalAPI.request does with an answer
        const kind = cmd.secured.SaleToPOIResponse ? "SaleToPOIResponse" : "SaleToPOIRequest";
        const message = ObjectSerializer.deserialize(cmd.secured[kind], "SaleToPOISecuredMessage");
        const plaintext = new NexoCrypto().decrypt(message, cmd.key);
        return { plaintext, ...typed(JSON.parse(plaintext), cmd.type) };
    }
    case "send": {  // the library's client, end to end
        const api = localApi(cmd.endpoint, cmd.certificate);
        const request = typed(cmd.request, "TerminalApiRequest");
        if (request.problems.length) {
            return { problems: request.problems };
        }
        let plaintext = null;  // what the library decrypted, to hold the typed answer against
        const decrypt = api.nexoCrypto.decrypt.bind(api.nexoCrypto);
        api.nexoCrypto.decrypt = (message, key) => (plaintext = decrypt(message, key));
        const response = await api.request(ObjectSerializer.deserialize(cmd.request, "TerminalApiRequest"),
            cmd.key);
        const answer = plaintext === null ? null : JSON.parse(plaintext);
        const checked = answer === null ? { problems: [] } : typed(answer, "TerminalApiResponse");
        return { answer, problems: checked.problems, typed: plain(response), classes: classNames(response) };
    }
    case "post": {  // raw bytes through the library's HTTP client (chunked, its TLS checks)
        const config = new Config({ environment: EnvironmentEnum.TEST, apiKey: "x", certificatePath: cmd.certificate,
            connectionTimeoutMillis: 20000 });
        const body = await new HttpURLConnectionClient().request(cmd.endpoint, cmd.body, config, true);
        return { body };
    }
    default:
        throw new Error(`unknown op ${cmd.op}`);
    }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
    queue = queue.then(async () => {
        let out;
        try {
            out = { ok: await run(JSON.parse(line)) };
        } catch (err) {
            out = { error: `${err && err.name}: ${err && err.message}` };
        }
        process.stdout.write(JSON.stringify(out) + "\n");
    });
});
