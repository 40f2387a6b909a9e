package journey

// EvaluateStoreHashed is EvaluateStore with the hash of user IDs given, to
// test users whose hashes collide.
var EvaluateStoreHashed = (*Engine).evaluateStore
