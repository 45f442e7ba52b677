// The emulator through jsforce, a Salesforce client nobody here wrote, over HTTPS (the emulator's --tls).
// Environment: EMULATOR_URL, USERNAME, PASSWORD (with the security token appended), CONSUMER_KEY, CONSUMER_SECRET,
// ADMIN_URL; NODE_EXTRA_CA_CERTS trusts the emulator's certificate. Prints one JSON line: [{name, ok, detail}].
import jsforce from "jsforce";

const env = process.env;
const results = [];

async function check(name, run) {
  try {
    const detail = await run();
    results.push({ name, ok: true, detail: detail ?? "" });
  } catch (error) {
    results.push({ name, ok: false, detail: `${error.errorCode ?? error.name}: ${error.message}` });
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function admin(path, body) {
  const response = await fetch(`${env.ADMIN_URL}/__emulator__/${path}`, {
    method: body ? "POST" : "GET", headers: { "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return response.json();
}

const soap = new jsforce.Connection({ loginUrl: env.EMULATOR_URL, version: "62.0" });
await check("soap login", async () => {
  const info = await soap.login(env.USERNAME, env.PASSWORD);
  expect(soap.instanceUrl === env.EMULATOR_URL, `instance ${soap.instanceUrl}`);
  return info.organizationId;
});

const oauth = new jsforce.Connection({
  oauth2: { loginUrl: env.EMULATOR_URL, clientId: env.CONSUMER_KEY, clientSecret: env.CONSUMER_SECRET },
  version: "65.0",
});
await check("oauth password login", async () => {
  await oauth.login(env.USERNAME, env.PASSWORD);
  expect(oauth.accessToken && oauth.instanceUrl === env.EMULATOR_URL, `instance ${oauth.instanceUrl}`);
  const identity = await oauth.identity();
  expect(identity.username === env.USERNAME, `identity ${identity.username}`);
});

await check("query with paging", async () => {
  const total = (await oauth.query("SELECT COUNT() FROM Lead")).totalSize;
  const result = await oauth.query("SELECT Id, Email FROM Lead", { autoFetch: true, maxFetch: 100000 });
  const records = result.records;
  expect(records.length === total && total > 200 && !result.nextRecordsUrl, `${records.length} of ${total}`);
  return `${total} records`;
});

await check("describe", async () => {
  const lead = await oauth.sobject("Lead").describe();
  expect(lead.fields.some((field) => field.name === "Email"), "no Email field");
  const global = await oauth.describeGlobal();
  expect(global.sobjects.some((object) => object.name === "Contact"), "no Contact in the global describe");
});

await check("record CRUD", async () => {
  const created = await oauth.sobject("Account").create({ Name: "jsforce Co" });
  expect(created.success, JSON.stringify(created));
  await oauth.sobject("Account").update({ Id: created.id, Name: "jsforce Co 2" });
  const read = await oauth.sobject("Account").retrieve(created.id);
  expect(read.Name === "jsforce Co 2", `name ${read.Name}`);
  await oauth.sobject("Account").destroy(created.id);
});

await check("sObject Collections", async () => {
  const created = await oauth.sobject("Account").create([{ Name: "A1" }, { Name: "A2" }], { allOrNone: true });
  expect(created.length === 2 && created.every((result) => result.success), JSON.stringify(created));
  const refused = await oauth.sobject("Contact").create([{ LastName: "Ok" }, { FirstName: "No last name" }]);
  expect(refused[0].success && !refused[1].success, JSON.stringify(refused));
  // Collections answer each record's error with statusCode, as Salesforce does.
  expect(refused[1].errors[0].statusCode === "REQUIRED_FIELD_MISSING", JSON.stringify(refused[1].errors));
});

await check("Bulk 2.0 query", async () => {
  const total = (await oauth.query("SELECT COUNT() FROM Contact")).totalSize;
  const stream = await oauth.bulk2.query("SELECT Id FROM Contact");
  let count = 0;
  for await (const record of stream) {
    expect(record.Id, "a record without Id");
    count += 1;
  }
  expect(count === total, `${count} of ${total}`);
});

await check("Bulk 2.0 ingest", async () => {
  const results = await oauth.bulk2.loadAndWaitForResults({
    object: "Account", operation: "insert", input: "Name\nBulk One\nBulk Two\n", pollTimeout: 60000, pollInterval: 200,
  });
  expect(results.successfulResults.length === 2 && results.failedResults.length === 0, JSON.stringify(results));
});

await check("reports", async () => {
  const reports = await oauth.analytics.reports();
  expect(reports.length > 0, "no report");
  const result = await oauth.analytics.report(reports[0].id).execute({ details: true });
  expect(result.factMap, "no factMap");
});

await check("limits", async () => {
  const limits = await oauth.limits();
  expect(limits.DailyApiRequests.Max > 0, JSON.stringify(limits.DailyApiRequests));
});

await check("composite", async () => {
  const answer = await oauth.requestPost(`/services/data/v65.0/composite`, {
    allOrNone: true,
    compositeRequest: [
      { method: "POST", url: "/services/data/v65.0/sobjects/Account", referenceId: "acct", body: { Name: "C" } },
      { method: "GET", url: "/services/data/v65.0/sobjects/Account/@{acct.id}", referenceId: "read" },
    ],
  });
  expect(answer.compositeResponse[1].body.Name === "C", JSON.stringify(answer));
});

await check("session expiry", async () => {
  // A connection that logged in with a password logs in again on INVALID_SESSION_ID; one built from a bare
  // session id cannot, and sees the error as Salesforce reports it.
  const bare = new jsforce.Connection({ instanceUrl: soap.instanceUrl, accessToken: soap.accessToken, version: "62.0" });
  const logins = (await admin("stats")).logins;
  await admin("faults", { expire_sessions: true });
  const answer = await soap.query("SELECT Id FROM Lead LIMIT 1");
  expect(answer.records.length === 1 && (await admin("stats")).logins === logins + 1, "no single re-login");
  try {
    await bare.query("SELECT Id FROM Lead LIMIT 1");
  } catch (error) {
    expect(error.errorCode === "INVALID_SESSION_ID", `${error.errorCode}: ${error.message}`);
    return "re-login, then INVALID_SESSION_ID without credentials";
  }
  throw new Error("an expired session was accepted");
});

console.log(JSON.stringify(results));
