//! Rows to domain types and back, at the store's edge.

use crate::entities::*;
use keyholder_domain::DomainError;
use keyholder_domain::ids::*;
use keyholder_domain::model::*;
use keyholder_domain::permission::{CategoryFlags, Permission, PermissionSet};
use sea_orm::ActiveValue::Set;
use time::OffsetDateTime;

pub fn to_us(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub fn from_us(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn corrupt(what: &str) -> DomainError {
    DomainError::Internal(format!("stored {what} does not parse"))
}

pub fn org(m: orgs::Model) -> Result<Org, DomainError> {
    Ok(Org {
        id: OrgId(m.id),
        slug: m.slug,
        name: m.name,
        settings: serde_json::from_str(&m.settings).map_err(|_| corrupt("org settings"))?,
        created_at: from_us(m.created_at),
    })
}

pub fn org_row(o: &Org) -> Result<orgs::ActiveModel, DomainError> {
    Ok(orgs::ActiveModel {
        id: Set(o.id.0),
        slug: Set(o.slug.clone()),
        name: Set(o.name.clone()),
        settings: Set(serde_json::to_string(&o.settings).map_err(DomainError::internal)?),
        created_at: Set(to_us(o.created_at)),
    })
}

pub fn category(m: categories::Model) -> Category {
    Category {
        id: CategoryId(m.id),
        org_id: OrgId(m.org_id),
        name: m.name,
        parent_id: m.parent_id.map(CategoryId),
        sensitive: m.sensitive,
        position: m.position,
        version: m.version,
    }
}

pub fn category_row(c: &Category) -> categories::ActiveModel {
    categories::ActiveModel {
        id: Set(c.id.0),
        org_id: Set(c.org_id.0),
        name: Set(c.name.clone()),
        parent_id: Set(c.parent_id.map(|p| p.0)),
        sensitive: Set(c.sensitive),
        position: Set(c.position),
        version: Set(c.version),
    }
}

pub fn permissions(s: &str) -> Result<PermissionSet, DomainError> {
    let keys: Vec<String> = serde_json::from_str(s).map_err(|_| corrupt("permissions"))?;
    Ok(keys
        .iter()
        .filter_map(|k| Permission::from_key(k))
        .collect())
}

pub fn group(
    m: user_groups::Model,
    flags: Vec<group_category_permissions::Model>,
) -> Result<UserGroup, DomainError> {
    Ok(UserGroup {
        id: GroupId(m.id),
        org_id: OrgId(m.org_id),
        name: m.name,
        active: m.active,
        system_permissions: permissions(&m.system_permissions)?,
        registered_permissions: serde_json::from_str(&m.registered_permissions)
            .map_err(DomainError::internal)?,
        category_permissions: flags
            .into_iter()
            .map(|f| {
                (
                    CategoryId(f.category_id),
                    CategoryFlags {
                        view_students: f.view_students,
                        view_incidents: f.view_incidents,
                        add_incidents: f.add_incidents,
                    },
                )
            })
            .collect(),
        version: m.version,
        external_id: m.external_id,
    })
}

pub fn group_row(g: &UserGroup) -> Result<user_groups::ActiveModel, DomainError> {
    Ok(user_groups::ActiveModel {
        id: Set(g.id.0),
        org_id: Set(g.org_id.0),
        name: Set(g.name.clone()),
        name_key: Set(g.name.to_lowercase()),
        active: Set(g.active),
        system_permissions: Set(
            serde_json::to_string(&g.system_permissions.keys()).map_err(DomainError::internal)?
        ),
        is_admin: Set(g.system_permissions.contains(Permission::AdminManageSystem)),
        is_elevated: Set(g.system_permissions.contains(Permission::AdminManageUsers)),
        version: Set(g.version),
        external_id: Set(g.external_id.clone()),
        registered_permissions: Set(
            serde_json::to_string(&g.registered_permissions).map_err(DomainError::internal)?
        ),
    })
}

pub fn flag_rows(g: &UserGroup) -> Vec<group_category_permissions::ActiveModel> {
    g.category_permissions
        .iter()
        .map(|(c, f)| group_category_permissions::ActiveModel {
            org_id: Set(g.org_id.0),
            group_id: Set(g.id.0),
            category_id: Set(c.0),
            view_students: Set(f.view_students),
            view_incidents: Set(f.view_incidents),
            add_incidents: Set(f.add_incidents),
        })
        .collect()
}

pub fn user(m: users::Model) -> Result<User, DomainError> {
    Ok(User {
        id: UserId(m.id),
        org_id: OrgId(m.org_id),
        username: m.username,
        email: m.email,
        title: m.title,
        forename: m.forename,
        surname: m.surname,
        job_title: m.job_title,
        phone: m.phone,
        user_group_id: GroupId(m.user_group_id),
        status: UserStatus::parse(&m.status).ok_or_else(|| corrupt("user status"))?,
        password_hash: m.password_hash,
        must_change_password: m.must_change_password,
        password_changed_at: m.password_changed_at.map(from_us),
        last_login_at: m.last_login_at.map(from_us),
        totp: TotpState {
            secret: m.totp_secret,
            confirmed: m.totp_confirmed,
            last_step: m.totp_last_step,
        },
        token_version: m.token_version,
        version: m.version,
        created_at: from_us(m.created_at),
        updated_at: from_us(m.updated_at),
        external_id: m.external_id,
        scim: m
            .scim_attributes
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("scim attributes"))?,
        scim_deleted: m.scim_deleted,
    })
}

pub fn user_row(u: &User) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(u.id.0),
        org_id: Set(u.org_id.0),
        username: Set(u.username.clone()),
        username_key: Set(u.username.as_ref().map(|s| s.to_lowercase())),
        email: Set(u.email.clone()),
        email_key: Set(u.email.as_ref().map(|s| s.to_lowercase())),
        title: Set(u.title.clone()),
        forename: Set(u.forename.clone()),
        surname: Set(u.surname.clone()),
        job_title: Set(u.job_title.clone()),
        phone: Set(u.phone.clone()),
        user_group_id: Set(u.user_group_id.0),
        status: Set(u.status.as_str().to_owned()),
        password_hash: Set(u.password_hash.clone()),
        must_change_password: Set(u.must_change_password),
        password_changed_at: Set(u.password_changed_at.map(to_us)),
        last_login_at: Set(u.last_login_at.map(to_us)),
        totp_secret: Set(u.totp.secret.clone()),
        totp_confirmed: Set(u.totp.confirmed),
        totp_last_step: Set(u.totp.last_step),
        token_version: Set(u.token_version),
        version: Set(u.version),
        created_at: Set(to_us(u.created_at)),
        updated_at: Set(to_us(u.updated_at)),
        external_id: Set(u.external_id.clone()),
        scim_attributes: Set(u.scim.as_ref().map(|v| v.to_string())),
        scim_deleted: Set(u.scim_deleted),
    }
}

pub fn user_view(
    u: users::Model,
    g: &user_groups::Model,
    staff_ids: Vec<StaffId>,
) -> Result<UserView, DomainError> {
    Ok(UserView {
        user: user(u)?,
        staff_ids,
        group_name: g.name.clone(),
        elevated: g.active && g.is_elevated,
        admin: g.active && g.is_admin,
    })
}

pub fn session(m: sessions::Model) -> Session {
    Session {
        id: SessionId(m.id),
        org_id: OrgId(m.org_id),
        user_id: UserId(m.user_id),
        method: SessionMethod::parse(&m.method),
        second_factor: m.second_factor,
        token_version: m.token_version,
        created_at: from_us(m.created_at),
        expires_at: from_us(m.expires_at),
        revoked: m.revoked,
    }
}

pub fn audit(m: audit_log::Model) -> Result<AuditEntry, DomainError> {
    Ok(AuditEntry {
        id: AuditId(m.id),
        org_id: OrgId(m.org_id),
        at: from_us(m.at),
        kind: m.kind,
        actor_id: m.actor_id.map(UserId),
        target_type: m.target_type,
        target_id: m.target_id,
        staff_id: m.staff_id,
        changes: serde_json::from_str(&m.changes).map_err(|_| corrupt("audit changes"))?,
        ip: m.ip,
        request_id: m.request_id,
        chain: match (m.seq, m.prev_hash, m.hash) {
            (Some(seq), Some(prev_hash), Some(hash)) => {
                Some(keyholder_domain::audit_chain::ChainLink {
                    seq,
                    prev_hash,
                    hash,
                })
            }
            _ => None,
        },
    })
}

pub fn date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn parse_date(s: &str) -> Result<time::Date, DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format).map_err(|_| corrupt("date"))
}

pub fn staff_member(m: staff::Model, user_ids: Vec<UserId>) -> Result<StaffMember, DomainError> {
    Ok(StaffMember {
        id: StaffId(m.id),
        org_id: OrgId(m.org_id),
        mis_id: m.mis_id,
        title: m.title,
        forename: m.forename,
        surname: m.surname,
        email: m.email,
        job_title: m.job_title,
        contract: Contract::parse(&m.contract).ok_or_else(|| corrupt("contract"))?,
        hours: Hours::parse(&m.hours).ok_or_else(|| corrupt("hours"))?,
        start_date: parse_date(&m.start_date)?,
        end_date: m.end_date.as_deref().map(parse_date).transpose()?,
        user_ids,
        version: m.version,
    })
}

pub fn staff_row(s: &StaffMember, created_at: i64) -> staff::ActiveModel {
    staff::ActiveModel {
        id: Set(s.id.0),
        org_id: Set(s.org_id.0),
        mis_id: Set(s.mis_id.clone()),
        title: Set(s.title.clone()),
        forename: Set(s.forename.clone()),
        surname: Set(s.surname.clone()),
        email: Set(s.email.clone()),
        job_title: Set(s.job_title.clone()),
        contract: Set(s.contract.as_str().to_owned()),
        hours: Set(s.hours.as_str().to_owned()),
        start_date: Set(date(s.start_date)),
        end_date: Set(s.end_date.map(date)),
        version: Set(s.version),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    }
}

pub fn student_group(m: student_groups::Model) -> Result<StudentGroup, DomainError> {
    Ok(StudentGroup {
        id: StudentGroupId(m.id),
        org_id: OrgId(m.org_id),
        mis_id: m.mis_id,
        kind: StudentGroupType::parse(&m.kind).ok_or_else(|| corrupt("student group type"))?,
        name: m.name,
        archived: m.archived,
        version: m.version,
    })
}

pub fn service_account(m: service_accounts::Model) -> Result<ServiceAccount, DomainError> {
    let scopes: Vec<String> = serde_json::from_str(&m.scopes).map_err(|_| corrupt("scopes"))?;
    Ok(ServiceAccount {
        id: ServiceAccountId(m.id),
        org_id: OrgId(m.org_id),
        name: m.name,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        key_prefix: m.key_prefix,
        created_at: from_us(m.created_at),
        created_by: m.created_by.map(UserId),
        last_used_at: m.last_used_at.map(from_us),
        revoked: m.revoked_at.is_some(),
    })
}

pub fn student(m: students::Model) -> Result<Student, DomainError> {
    Ok(Student {
        id: StudentId(m.id),
        org_id: OrgId(m.org_id),
        mis_id: m.mis_id,
        forename: m.forename,
        surname: m.surname,
        date_of_birth: m.date_of_birth.as_deref().map(parse_date).transpose()?,
        on_roll: m.on_roll,
    })
}

pub fn student_row(s: &Student, at: i64) -> students::ActiveModel {
    students::ActiveModel {
        id: Set(s.id.0),
        org_id: Set(s.org_id.0),
        mis_id: Set(s.mis_id.clone()),
        forename: Set(s.forename.clone()),
        surname: Set(s.surname.clone()),
        date_of_birth: Set(s.date_of_birth.map(date)),
        on_roll: Set(s.on_roll),
        created_at: Set(at),
        updated_at: Set(at),
        kinds_mask: sea_orm::ActiveValue::NotSet,
    }
}
