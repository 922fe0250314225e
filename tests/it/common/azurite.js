// Creates a container in Azurite with the official SDK: node azurite.js <endpoint> <account> <key> <container>
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");
const [endpoint, account, key, container] = process.argv.slice(2);
const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key));
service.getContainerClient(container).createIfNotExists().then(
  () => {},
  (e) => { console.error(e.message); process.exit(1); },
);
