//! G1, G3, G4, G5: user groups and the permission catalogue.

use super::*;
use crate::error::FieldError;
use crate::permission::{CategoryFlags, PermissionSet};
use crate::policy::Action;
use crate::ports::GroupQuery;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct GroupInput {
    pub name: String,
    pub active: bool,
    pub system_permissions: PermissionSet,
    /// Issue 16: keys of permissions other products registered in the org's catalogue.
    pub registered_permissions: Vec<String>,
    pub category_permissions: Vec<(CategoryId, CategoryFlags)>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub system_permissions: Option<PermissionSet>,
    /// Issue 16: set with `system_permissions` (the whole list of keys).
    pub registered_permissions: Option<Vec<String>>,
    pub category_permissions: Option<Vec<(CategoryId, CategoryFlags)>>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupListParams {
    pub q: Option<String>,
    pub active: Option<bool>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

fn group_json(g: &UserGroup) -> serde_json::Value {
    json!({
        "name": g.name,
        "status": if g.active { "active" } else { "inactive" },
        "system_permissions": g.permission_keys(),
        "category_permissions": g.category_permissions.iter().map(|(c, f)| json!({
            "category_id": c, "view_students": f.view_students,
            "view_incidents": f.view_incidents, "add_incidents": f.add_incidents,
        })).collect::<Vec<_>>(),
    })
}

/// Issue 16: the registered permissions these keys name, with their levels from the org's
/// catalogue (sorted, once each); a key the catalogue does not hold names itself.
pub(crate) async fn registered_grants(
    tx: &mut dyn Tx,
    org: OrgId,
    keys: &[String],
) -> Result<Vec<crate::permission::RegisteredGrant>> {
    if keys.is_empty() {
        return Ok(vec![]);
    }
    let catalogue = tx.registered_permissions(org).await?;
    let mut errors = Vec::new();
    let mut grants = Vec::new();
    for k in keys.iter().take(crate::permission::MAX_REGISTERED_PER_ORG) {
        if errors.len() >= 20 {
            break;
        }
        match catalogue.iter().find(|r| &r.key == k) {
            Some(r) => grants.push(crate::permission::RegisteredGrant {
                key: r.key.clone(),
                level: r.level,
            }),
            None => errors.push(FieldError::new(
                "system_permissions",
                "unknown_permission",
                format!("`{k}` is not in the catalogue (GET /v1/permissions)"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    grants.sort();
    grants.dedup();
    Ok(grants)
}

fn group_diff(b: &UserGroup, a: &UserGroup) -> serde_json::Value {
    let (b, a) = (group_json(b), group_json(a));
    let fields: Vec<_> = [
        "name",
        "status",
        "system_permissions",
        "category_permissions",
    ]
    .iter()
    .map(|f| (*f, b[f].clone(), a[f].clone()))
    .collect();
    diff(&fields)
}

impl Keyholder {
    pub async fn list_groups(
        &self,
        subject: &Subject,
        org: &str,
        params: GroupListParams,
    ) -> Result<Page<(UserGroup, MemberCounts)>> {
        self.check_org(subject, org, Action::ListUserGroups)?;
        let (page, per_page) = paging(params.page, params.per_page)?;
        let mut tx = self.tx().await?;
        let query = GroupQuery {
            q: clean(params.q),
            active: params.active,
            page,
            per_page,
        };
        let (items, total) = tx.groups(subject.org_id, &query).await?;
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }

    pub async fn get_group(
        &self,
        subject: &Subject,
        org: &str,
        id: GroupId,
    ) -> Result<(UserGroup, MemberCounts)> {
        self.check_org(subject, org, Action::ReadUserGroup)?;
        let mut tx = self.tx().await?;
        let group = tx
            .group(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let counts = tx.member_counts(subject.org_id, id).await?;
        Ok((group, counts))
    }

    async fn check_group_fields(
        &self,
        tx: &mut dyn Tx,
        org: OrgId,
        name: &str,
        categories: &[(CategoryId, CategoryFlags)],
        except: Option<GroupId>,
    ) -> Result<()> {
        let mut errors = Vec::new();
        let n = name.trim().chars().count();
        if n == 0 || n > 100 {
            errors.push(FieldError::new("name", "length", "1 to 100 characters"));
        }
        let known = tx.categories(org).await?;
        for (i, (c, _)) in categories.iter().enumerate() {
            if !known.iter().any(|k| k.id == *c) {
                errors.push(FieldError::new(
                    &format!("category_permissions[{i}].category_id"),
                    "unknown_category",
                    "no such category",
                ));
            }
            if categories[..i].iter().any(|(p, _)| p == c) {
                errors.push(FieldError::new(
                    &format!("category_permissions[{i}].category_id"),
                    "duplicate",
                    "category listed twice",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        if let Some(g) = tx.group_by_name(org, name.trim()).await?
            && Some(g.id) != except
        {
            return Err(DomainError::GroupNameInUse);
        }
        Ok(())
    }

    /// G1, G4.
    pub async fn create_group(
        &self,
        subject: &Subject,
        org: &str,
        input: GroupInput,
        ctx: &RequestContext,
    ) -> Result<(UserGroup, MemberCounts)> {
        self.check_org(subject, org, Action::CreateUserGroup)?;
        let group = UserGroup {
            id: GroupId::new(),
            org_id: subject.org_id,
            name: input.name.trim().to_owned(),
            active: input.active,
            system_permissions: input.system_permissions,
            registered_permissions: vec![],
            category_permissions: input
                .category_permissions
                .into_iter()
                .filter(|(_, f)| !f.is_none())
                .collect(),
            version: 1,
            external_id: None,
        };
        let mut tx = self.tx().await?;
        // The catalogue is read under the org's lock, as it is written: a permission cannot
        // be unregistered between this read and the group's insert.
        tx.lock_org(subject.org_id).await?;
        let mut group = group;
        group.registered_permissions =
            registered_grants(tx.as_mut(), subject.org_id, &input.registered_permissions).await?;
        self.check_group_fields(
            tx.as_mut(),
            subject.org_id,
            &group.name,
            &group.category_permissions,
            None,
        )
        .await?;
        self.authorize(subject, Action::GrantGroup, grant(&group))?;
        tx.insert_group(&group).await?;
        let empty = UserGroup {
            name: String::new(),
            system_permissions: PermissionSet::EMPTY,
            registered_permissions: vec![],
            category_permissions: vec![],
            ..group.clone()
        };
        let mut changes = group_diff(&empty, &group);
        if let Some(m) = changes.as_object_mut() {
            m.insert("name".into(), json!([null, group.name]));
            m.insert(
                "status".into(),
                json!([null, if group.active { "active" } else { "inactive" }]),
            );
        }
        Audit {
            org: subject.org_id,
            kind: "user_group.created",
            actor: Some(subject.user_id),
            target: Some(("user_group", group.id.0)),
            changes,
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok((group, MemberCounts::default()))
    }

    /// G1, G4 (before and after), G5.
    pub async fn update_group(
        &self,
        subject: &Subject,
        org: &str,
        id: GroupId,
        patch: GroupPatch,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<(UserGroup, MemberCounts)> {
        self.check_org(subject, org, Action::EditUserGroup)?;
        let mut tx = self.tx().await?;
        tx.lock_org(subject.org_id).await?;
        let before = tx
            .group(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(v) = if_match
            && v != before.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        let mut after = before.clone();
        if let Some(n) = patch.name {
            after.name = n.trim().to_owned();
        }
        if let Some(a) = patch.active {
            after.active = a;
        }
        if let Some(p) = patch.system_permissions {
            after.system_permissions = p;
        }
        if let Some(keys) = patch.registered_permissions {
            after.registered_permissions =
                registered_grants(tx.as_mut(), subject.org_id, &keys).await?;
        }
        if let Some(c) = patch.category_permissions {
            after.category_permissions = c.into_iter().filter(|(_, f)| !f.is_none()).collect();
        }
        self.check_group_fields(
            tx.as_mut(),
            subject.org_id,
            &after.name,
            &after.category_permissions,
            Some(id),
        )
        .await?;
        // G4: one may only edit a group whose grants one holds, into one whose grants one holds.
        self.authorize(subject, Action::GrantGroup, grant(&before))?;
        self.authorize(subject, Action::GrantGroup, grant(&after))?;
        let changes = group_diff(&before, &after);
        let counts = tx.member_counts(subject.org_id, id).await?;
        if changes.as_object().is_some_and(|m| m.is_empty()) {
            return Ok((before, counts));
        }
        after.version = before.version + 1;
        if !tx.update_group(&after, before.version).await? {
            return Err(DomainError::VersionMismatch {
                expected: if_match.unwrap_or(before.version),
            });
        }
        if admins_who_can_sign_in(tx.as_mut(), subject.org_id).await? == 0 {
            return Err(DomainError::LastAdmin);
        }
        Audit {
            org: subject.org_id,
            kind: "user_group.updated",
            actor: Some(subject.user_id),
            target: Some(("user_group", id.0)),
            changes,
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok((after, counts))
    }

    /// G3: only a group without members, deactivated ones included, can go.
    pub async fn delete_group(
        &self,
        subject: &Subject,
        org: &str,
        id: GroupId,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::DeleteUserGroup)?;
        let mut tx = self.tx().await?;
        let group = tx
            .group(subject.org_id, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(v) = if_match
            && v != group.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        self.authorize(subject, Action::GrantGroup, grant(&group))?;
        let counts = tx.member_counts(subject.org_id, id).await?;
        if counts.active + counts.deactivated + counts.pending > 0 {
            return Err(DomainError::GroupInUse {
                active: counts.active + counts.pending,
                deactivated: counts.deactivated,
            });
        }
        tx.delete_group(subject.org_id, id).await?;
        let b = group_json(&group);
        Audit {
            org: subject.org_id,
            kind: "user_group.deleted",
            actor: Some(subject.user_id),
            target: Some(("user_group", id.0)),
            changes: json!({"name": [b["name"], null], "system_permissions": [b["system_permissions"], null]}),
        }
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }

    /// The categories of the org, for building group permissions.
    pub async fn list_categories(&self, subject: &Subject, org: &str) -> Result<Vec<Category>> {
        self.check_org(subject, org, Action::ListCategories)?;
        let mut tx = self.tx().await?;
        tx.categories(subject.org_id).await
    }
}
