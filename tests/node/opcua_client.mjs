// An OPC UA client not written here (node-opcua), driven by obisgate's tests.
//
// Usage: node opcua_client.mjs '<json>' with
//   {"endpoint": "opc.tcp://127.0.0.1:PORT/obisgate/", "mode": "None|Sign|SignAndEncrypt",
//    "policy": "None|Basic256Sha256", "user": null|"name", "password": "...",
//    "pki": "<folder for the client's own certificate>", "nodes": ["m.volts", ...]}
// Prints one JSON object on stdout: the server's endpoints, and for each node its value,
// StatusCode, SourceTimestamp, ServerTimestamp, Description, type definition and
// EngineeringUnits; or {"error": "..."} and exit status 2 when connecting or logging in fails.
import {
  AttributeIds,
  BrowseDirection,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
} from "node-opcua-client";
import certificates from "node-opcua-certificate-manager";

const { OPCUACertificateManager } = certificates;

const request = JSON.parse(process.argv[2]);
const modes = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};
const policies = { None: SecurityPolicy.None, Basic256Sha256: SecurityPolicy.Basic256Sha256 };

function stamp(date) {
  return date ? date.toISOString() : null;
}

async function main() {
  const certificateManager = new OPCUACertificateManager({
    rootFolder: request.pki,
    automaticallyAcceptUnknownCertificate: true,
  });
  const client = OPCUAClient.create({
    applicationName: "obisgate-tests-node-opcua",
    endpointMustExist: false,
    securityMode: modes[request.mode],
    securityPolicy: policies[request.policy],
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager: certificateManager,
  });
  const result = { endpoints: [], values: {} };
  try {
    await client.connect(request.endpoint);
  } catch (err) {
    return { error: `connect: ${err.message}` };
  }
  try {
    const endpoints = await client.getEndpoints();
    result.endpoints = endpoints.map((e) => ({
      mode: MessageSecurityMode[e.securityMode],
      policy: e.securityPolicyUri.split("#").pop(),
      tokens: e.userIdentityTokens.map((t) => UserTokenType[t.tokenType]),
    }));
    let session;
    try {
      session = await client.createSession(
        request.user === null
          ? { type: UserTokenType.Anonymous }
          : { type: UserTokenType.UserName, userName: request.user, password: request.password },
      );
    } catch (err) {
      return { ...result, error: `session: ${err.message}` };
    }
    const namespaces = await session.readNamespaceArray();
    const ns = namespaces.indexOf("urn:obisgate");
    for (const name of request.nodes) {
      const nodeId = `ns=${ns};s=${name}`;
      const [value, description] = await session.read(
        [
          { nodeId, attributeId: AttributeIds.Value },
          { nodeId, attributeId: AttributeIds.Description },
        ],
        0,
      );
      const typeRefs = await session.browse({
        nodeId,
        referenceTypeId: "HasTypeDefinition",
        browseDirection: BrowseDirection.Forward,
      });
      const properties = await session.browse({
        nodeId,
        referenceTypeId: "HasProperty",
        browseDirection: BrowseDirection.Forward,
        resultMask: 63,
      });
      let units = null;
      const unitRef = properties.references.find((r) => r.browseName.name === "EngineeringUnits");
      if (unitRef) {
        const eu = (await session.read({ nodeId: unitRef.nodeId, attributeId: AttributeIds.Value }))
          .value.value;
        units = {
          namespaceUri: eu.namespaceUri,
          unitId: eu.unitId,
          displayName: eu.displayName.text,
          description: eu.description.text,
        };
      }
      result.values[name] = {
        value: value.value.value,
        status: value.statusCode.name,
        source: stamp(value.sourceTimestamp),
        server: stamp(value.serverTimestamp),
        description: description.value.value ? description.value.value.text : null,
        type: typeRefs.references.length ? typeRefs.references[0].nodeId.toString() : null,
        units,
      };
    }
    await session.close();
    return result;
  } finally {
    await client.disconnect();
  }
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out) + "\n");
    process.exit(out.error ? 2 : 0);
  },
  (err) => {
    process.stdout.write(JSON.stringify({ error: `failed: ${err.message}` }) + "\n");
    process.exit(2);
  },
);
