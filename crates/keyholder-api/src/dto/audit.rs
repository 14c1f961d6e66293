//! The audit log (AU1-AU4).

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    /// `{field: [before, after]}`: an open object, each value any JSON.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub changes: serde_json::Value,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// AU3: the entry's place in the org's chain, its hash and the hash of the entry before.
    pub seq: Option<i64>,
    pub hash: Option<String>,
    pub prev_hash: Option<String>,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(e: AuditEntry) -> Self {
        let (seq, hash, prev_hash) = match e.chain {
            Some(c) => (Some(c.seq), Some(c.hash), Some(c.prev_hash)),
            None => (None, None, None),
        };
        AuditEntryOut {
            seq,
            hash,
            prev_hash,
            id: e.id.0,
            at: e.at,
            kind: e.kind,
            actor_id: e.actor_id.map(|a| a.0),
            target_type: e.target_type,
            target_id: e.target_id,
            staff_id: e.staff_id,
            changes: e.changes,
            ip: e.ip,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageOut {
    pub items: Vec<AuditEntryOut>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryIn {
    /// From this time on, RFC 3339 (inclusive).
    pub from: Option<String>,
    /// Before this time, RFC 3339 (exclusive).
    pub to: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    pub actor_id: Option<Uuid>,
    pub target_user_id: Option<Uuid>,
    /// Entries about this staff record.
    pub staff_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// AU3: what verifying the org's chain found.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyOut {
    pub valid: bool,
    /// Entries checked.
    pub checked: u64,
    /// The first entry that was edited or follows a deleted one; null when valid, or when
    /// entries are missing at the end of the chain.
    pub first_bad_id: Option<Uuid>,
    pub detail: Option<String>,
}

impl From<keyholder_domain::audit_chain::Verification> for AuditVerifyOut {
    fn from(v: keyholder_domain::audit_chain::Verification) -> Self {
        AuditVerifyOut {
            valid: v.valid,
            checked: v.checked,
            first_bad_id: v.first_bad_id.map(|i| i.0),
            detail: v.detail,
        }
    }
}
