//! SeaORM entities: one per table of `migrations/`. Converted to domain types in `convert.rs`;
//! nothing outside this crate sees them.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod signing_keys {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        /// The key's `kid`.
        pub name: String,
        pub secret: Vec<u8>,
        /// `HS256` (before A9) or `EdDSA`.
        pub alg: String,
        pub created_at: i64,
        pub retired: bool,
    }
    no_relations!();
}

pub mod orgs {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orgs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub slug: String,
        pub name: String,
        pub settings: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod categories {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "categories")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub parent_id: Option<Uuid>,
        pub sensitive: bool,
        pub position: i32,
        pub version: i64,
    }
    no_relations!();
}

pub mod student_monitoring {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "student_monitoring")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub student_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: Uuid,
        pub created_by: Option<Uuid>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod user_groups {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub name_key: String,
        pub active: bool,
        pub system_permissions: String,
        pub is_admin: bool,
        pub is_elevated: bool,
        pub version: i64,
        pub external_id: Option<String>,
        /// Issue 16: JSON, the registered permissions granted with their levels.
        pub registered_permissions: String,
    }
    no_relations!();
}

/// Issue 16: permissions of other products in an org's catalogue.
pub mod registered_permissions {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registered_permissions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub level: String,
        pub description: String,
        pub registered_by: Option<Uuid>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod group_category_permissions {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_category_permissions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: Uuid,
        pub view_students: bool,
        pub view_incidents: bool,
        pub add_incidents: bool,
    }
    no_relations!();
}

pub mod users {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub username: Option<String>,
        pub username_key: Option<String>,
        pub email: Option<String>,
        pub email_key: Option<String>,
        pub title: Option<String>,
        pub forename: String,
        pub surname: String,
        pub job_title: Option<String>,
        pub phone: Option<String>,
        pub user_group_id: Uuid,
        pub status: String,
        pub password_hash: Option<String>,
        pub must_change_password: bool,
        pub password_changed_at: Option<i64>,
        pub last_login_at: Option<i64>,
        pub totp_secret: Option<String>,
        pub totp_confirmed: bool,
        pub totp_last_step: Option<i64>,
        pub token_version: i64,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub external_id: Option<String>,
        pub scim_attributes: Option<String>,
        pub scim_deleted: bool,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::user_groups::Entity",
            from = "Column::UserGroupId",
            to = "super::user_groups::Column::Id"
        )]
        Group,
    }
    impl Related<super::user_groups::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Group.def()
        }
    }
    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sessions {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub user_id: Uuid,
        pub method: String,
        pub second_factor: bool,
        pub token_version: i64,
        pub created_at: i64,
        pub expires_at: i64,
        pub revoked: bool,
    }
    no_relations!();
}

pub mod refresh_tokens {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: String,
        pub org_id: Uuid,
        pub session_id: Uuid,
        pub spent: bool,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod login_throttles {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_throttles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub failures: i32,
        pub locked_until: Option<i64>,
    }
    no_relations!();
}

pub mod recovery_codes {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recovery_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: String,
        pub used_at: Option<i64>,
    }
    no_relations!();
}

pub mod audit_log {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub at: i64,
        pub kind: String,
        pub actor_id: Option<Uuid>,
        pub target_type: Option<String>,
        pub target_id: Option<Uuid>,
        pub staff_id: Option<Uuid>,
        pub changes: String,
        pub ip: Option<String>,
        pub request_id: Option<String>,
        pub seq: Option<i64>,
        pub hash: Option<String>,
        pub prev_hash: Option<String>,
    }
    no_relations!();
}

pub mod audit_heads {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub seq: i64,
        pub hash: String,
    }
    no_relations!();
}

/// AU4: what an entry is about (a pupil, or a category's incidents or marks).
pub mod audit_about {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_about")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub audit_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ref_id: Uuid,
    }
    no_relations!();
}

pub mod staff {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub mis_id: Option<String>,
        pub title: Option<String>,
        pub forename: String,
        pub surname: String,
        pub email: Option<String>,
        pub job_title: Option<String>,
        pub contract: String,
        pub hours: String,
        pub start_date: String,
        pub end_date: Option<String>,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod user_staff {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_staff")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub staff_id: Uuid,
    }
    no_relations!();
}

pub mod students {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "students")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub mis_id: String,
        pub forename: String,
        pub surname: String,
        pub date_of_birth: Option<String>,
        pub on_roll: bool,
        pub created_at: i64,
        pub updated_at: i64,
        /// R4 at scale: the kinds of the student's unarchived groups (see `visibility`).
        pub kinds_mask: i32,
    }
    no_relations!();
}

pub mod student_groups {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "student_groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub mis_id: Option<String>,
        pub kind: String,
        pub name: String,
        pub archived: bool,
        pub version: i64,
    }
    no_relations!();
}

pub mod student_group_members {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "student_group_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub student_id: Uuid,
    }
    no_relations!();
}

pub mod student_group_access {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "student_group_access")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
    }
    no_relations!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub kind: String,
        pub to_address: String,
        pub subject: String,
        pub body: String,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: i64,
        pub lease_until: Option<i64>,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub sent_at: Option<i64>,
    }
    no_relations!();
}

pub mod action_tokens {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "action_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: String,
        pub org_id: Uuid,
        pub user_id: Uuid,
        pub purpose: String,
        pub expires_at: i64,
        pub used_at: Option<i64>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod notification_prefs {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_prefs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category_id: Uuid,
        pub mode: String,
    }
    no_relations!();
}

pub mod service_accounts {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub scopes: String,
        pub key_prefix: String,
        pub key_hash: String,
        pub created_at: i64,
        pub created_by: Option<Uuid>,
        pub last_used_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod idempotency_keys {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub endpoint: String,
        pub request_hash: String,
        pub status: i32,
        pub response: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod student_blocks {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "student_blocks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub student_id: Uuid,
        pub reason: String,
        pub created_by: Option<Uuid>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod incidents {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub student_id: Uuid,
        pub category_id: Uuid,
        pub description: String,
        pub occurred_at: i64,
        pub reported_by: Uuid,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod alerts {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub user_id: Uuid,
        pub incident_id: Uuid,
        pub category_id: Uuid,
        pub created_at: i64,
        pub read_at: Option<i64>,
    }
    no_relations!();
}

pub mod digests {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "digests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        pub sent_at: i64,
    }
    no_relations!();
}

/// A8: single sign-on.
pub mod identity_providers {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_providers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub kind: String,
        pub name: String,
        pub issuer: String,
        pub tenant_id: Option<String>,
        pub client_id: String,
        pub client_secret: String,
        pub allowed_domains: String,
        pub scopes: String,
        pub return_urls: String,
        pub mfa_counts: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod sso_links {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sso_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        pub org_id: Uuid,
        pub user_id: Uuid,
        pub tenant_id: Option<String>,
        pub object_id: Option<String>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod sso_states {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sso_states")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: String,
        pub org_id: Uuid,
        pub provider_id: Uuid,
        pub browser_hash: String,
        pub nonce: String,
        pub verifier: String,
        pub return_to: String,
        pub link_user_id: Option<Uuid>,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod sso_codes {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sso_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: String,
        pub org_id: Uuid,
        pub provider_id: Uuid,
        pub user_id: Uuid,
        pub mfa: bool,
        pub binding: String,
        pub expires_at: i64,
    }
    no_relations!();
}
