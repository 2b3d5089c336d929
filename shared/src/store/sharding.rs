//! The shard key recommended for each collection on a sharded cluster (README, *Sharding*).
//! Every hot query names `routed_by` by equality, so `mongos` sends it to the shards that hold
//! that account's range (one, unless the account outgrew a chunk); a test checks the queries
//! the handlers really send against this table with `explain()`.

/// One collection's plan.
pub struct ShardKey {
    pub collection: &'static str,
    /// The key, ranged, in order; empty: leave the collection unsharded (it lives on the
    /// primary shard, so every query to it goes to one shard).
    pub key: &'static [&'static str],
    /// The key's prefix every hot query must name by equality.
    pub routed_by: &'static [&'static str],
}

pub const SHARD_KEYS: &[ShardKey] = &[
    // Unique `username` could only be enforced with it leading the key, and every request
    // reads by `_id`: one small document per account stays unsharded.
    ShardKey {
        collection: "users",
        key: &[],
        routed_by: &[],
    },
    ShardKey {
        collection: "conversations",
        key: &["account_id", "_id"],
        routed_by: &["account_id"],
    },
    // The unique (account_id, chat_id) index is the key: a unique index must start with it.
    ShardKey {
        collection: "chats",
        key: &["account_id", "chat_id"],
        routed_by: &["account_id"],
    },
    // The unique (account_id, chat_id, position) index again; a long chat can split by
    // position, and a page reads one range of it.
    ShardKey {
        collection: "messages",
        key: &["account_id", "chat_id", "position"],
        routed_by: &["account_id"],
    },
    // `_id` is `{account_id, key}`: ranges group an account's keys.
    ShardKey {
        collection: "idempotency_keys",
        key: &["_id"],
        routed_by: &["_id"],
    },
    // `_id` is the username; every query names it.
    ShardKey {
        collection: "login_attempts",
        key: &["_id"],
        routed_by: &["_id"],
    },
];

/// Queries that name no account, and so go to every shard: the purges of expired trash
/// (at most two documents, by the sparse `purge_at` index on each shard, inside requests that
/// purge).
pub const SCATTER_GATHER: &[(&str, &str)] = &[("conversations", "purge_at"), ("chats", "purge_at")];
