//! G1, G6: the org's categories, a tree of categories and sub-categories. Admins shape it;
//! every change is audited. A category that still has sub-categories or incidents stays.
//!
//! A new sub-category starts with its parent's flags in every group (whoever saw the parent's
//! records sees the new branch's, nobody else); a new top-level category with every flag in the
//! creating admin's own group only, so that the admin holds what they then hand out (G4).

use super::*;
use crate::error::FieldError;
use crate::permission::CategoryFlags;
use crate::policy::Action;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct CategoryInput {
    pub name: String,
    pub parent_id: Option<CategoryId>,
    pub sensitive: bool,
}

/// Only the fields to change; `parent_id: Some(None)` makes a category top level.
#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub parent_id: Option<Option<CategoryId>>,
    pub sensitive: Option<bool>,
    pub position: Option<i32>,
}

fn category_json(c: &Category) -> serde_json::Value {
    json!({
        "name": c.name,
        "parent_id": c.parent_id,
        "sensitive": c.sensitive,
        "position": c.position,
    })
}

fn category_diff(before: Option<&Category>, after: Option<&Category>) -> serde_json::Value {
    let null = serde_json::Value::Null;
    let b = before.map(category_json);
    let a = after.map(category_json);
    let pick =
        |v: &Option<serde_json::Value>, f: &str| v.as_ref().map_or(null.clone(), |v| v[f].clone());
    let fields: Vec<_> = ["name", "parent_id", "sensitive", "position"]
        .iter()
        .map(|f| (*f, pick(&b, f), pick(&a, f)))
        .collect();
    diff(&fields)
}

/// Every bad field at once: the name, a parent in this org that is not the category itself or
/// one of its descendants (the tree stays a tree).
fn check_fields(
    all: &[Category],
    id: CategoryId,
    name: &str,
    parent: Option<CategoryId>,
) -> Result<()> {
    let mut errors = Vec::new();
    let n = name.chars().count();
    if n == 0 || n > 100 {
        errors.push(FieldError::new("name", "length", "1 to 100 characters"));
    }
    if let Some(p) = parent {
        if !all.iter().any(|c| c.id == p) {
            errors.push(FieldError::new(
                "parent_id",
                "unknown_category",
                "no such category",
            ));
        } else {
            // Walk up from the new parent: meeting the category itself would make a cycle.
            let mut current = Some(p);
            let mut hops = 0;
            while let Some(c) = current {
                if c == id {
                    errors.push(FieldError::new(
                        "parent_id",
                        "cycle",
                        "a category cannot sit under itself or one of its sub-categories",
                    ));
                    break;
                }
                current = all.iter().find(|x| x.id == c).and_then(|x| x.parent_id);
                hops += 1;
                if hops > all.len() {
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    if all.iter().any(|c| {
        c.id != id && c.parent_id == parent && c.name.to_lowercase() == name.to_lowercase()
    }) {
        return Err(DomainError::Conflict {
            code: "category_name_in_use",
            detail: "a category with that name already sits at that place in the tree".into(),
        });
    }
    Ok(())
}

impl Keyholder {
    /// One category (any signed-in member of the org, like the list).
    pub async fn get_category(
        &self,
        subject: &Subject,
        org: &str,
        id: CategoryId,
    ) -> Result<Category> {
        self.check_org(subject, org, Action::ListCategories)?;
        let mut tx = self.tx().await?;
        tx.categories(subject.org_id)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(DomainError::NotFound)
    }

    /// A new category or sub-category, placed last among its siblings, with the flags the
    /// module's header describes.
    pub async fn create_category(
        &self,
        subject: &Subject,
        org: &str,
        input: CategoryInput,
        ctx: &RequestContext,
    ) -> Result<Category> {
        self.check_org(subject, org, Action::EditCategories)?;
        let mut tx = self.tx().await?;
        tx.lock_org(subject.org_id).await?;
        let all = tx.categories(subject.org_id).await?;
        let id = CategoryId::new();
        let name = input.name.trim().to_owned();
        check_fields(&all, id, &name, input.parent_id)?;
        let position = all
            .iter()
            .filter(|c| c.parent_id == input.parent_id)
            .map(|c| c.position + 1)
            .max()
            .unwrap_or(0);
        let category = Category {
            id,
            org_id: subject.org_id,
            name,
            parent_id: input.parent_id,
            sensitive: input.sensitive,
            position,
            version: 1,
        };
        tx.insert_category(&category).await?;
        let grants = match category.parent_id {
            Some(parent) => tx.category_flags(subject.org_id, parent).await?,
            None => {
                let me = tx
                    .user(subject.org_id, subject.user_id)
                    .await?
                    .ok_or(DomainError::NotFound)?;
                vec![(me.user_group_id, CategoryFlags::ALL)]
            }
        };
        tx.grant_category_flags(subject.org_id, id, &grants).await?;
        let mut changes = category_diff(None, Some(&category));
        if let Some(m) = changes.as_object_mut() {
            m.insert(
                "granted_to_groups".into(),
                json!([null, grants.iter().map(|(g, _)| g).collect::<Vec<_>>()]),
            );
        }
        Audit {
            org: subject.org_id,
            kind: "category.created",
            actor: Some(subject.user_id),
            target: Some(("category", id.0)),
            changes,
        }
        // A count of marks names no pupil; binding it to the deleted category would hide it
        // from everyone, since no group holds a flag on it any more.
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(category)
    }

    /// Rename, move, reorder, or mark sensitive (G2: a sensitive category and everything under
    /// it always needs a second factor).
    pub async fn update_category(
        &self,
        subject: &Subject,
        org: &str,
        id: CategoryId,
        patch: CategoryPatch,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<Category> {
        self.check_org(subject, org, Action::EditCategories)?;
        let mut tx = self.tx().await?;
        tx.lock_org(subject.org_id).await?;
        let all = tx.categories(subject.org_id).await?;
        let before = all
            .iter()
            .find(|c| c.id == id)
            .cloned()
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
        if let Some(p) = patch.parent_id {
            after.parent_id = p;
        }
        if let Some(s) = patch.sensitive {
            after.sensitive = s;
        }
        if let Some(p) = patch.position {
            after.position = p;
        }
        if let Some(p) = patch.position
            && !(0..=10_000).contains(&p)
        {
            return Err(DomainError::field("position", "range", "0 to 10000"));
        }
        check_fields(&all, id, &after.name, after.parent_id)?;
        let changes = category_diff(Some(&before), Some(&after));
        if changes.as_object().is_some_and(|m| m.is_empty()) {
            return Ok(before);
        }
        after.version = before.version + 1;
        if !tx.update_category(&after, before.version).await? {
            return Err(DomainError::VersionMismatch {
                expected: if_match.unwrap_or(before.version),
            });
        }
        Audit {
            org: subject.org_id,
            kind: "category.updated",
            actor: Some(subject.user_id),
            target: Some(("category", id.0)),
            changes,
        }
        // A count of marks names no pupil; binding it to the deleted category would hide it
        // from everyone, since no group holds a flag on it any more.
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// A category goes only when no sub-category and no incident refers to it; the groups'
    /// flags, notification preferences and monitoring marks for it go with it (audited).
    pub async fn delete_category(
        &self,
        subject: &Subject,
        org: &str,
        id: CategoryId,
        if_match: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.check_org(subject, org, Action::EditCategories)?;
        let mut tx = self.tx().await?;
        tx.lock_org(subject.org_id).await?;
        let category = tx
            .categories(subject.org_id)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(DomainError::NotFound)?;
        if let Some(v) = if_match
            && v != category.version
        {
            return Err(DomainError::VersionMismatch { expected: v });
        }
        let usage = tx.category_usage(subject.org_id, id).await?;
        if usage.sub_categories > 0 || usage.incidents > 0 {
            return Err(DomainError::Conflict {
                code: "category_in_use",
                detail: format!(
                    "the category has {} sub-categories and {} incidents",
                    usage.sub_categories, usage.incidents
                ),
            });
        }
        tx.delete_category(subject.org_id, id).await?;
        let mut changes = category_diff(Some(&category), None);
        if let Some(m) = changes.as_object_mut() {
            m.insert(
                "monitored_students".into(),
                json!([usage.monitored_students, 0]),
            );
        }
        Audit {
            org: subject.org_id,
            kind: "category.deleted",
            actor: Some(subject.user_id),
            target: Some(("category", id.0)),
            changes,
        }
        // A count of marks names no pupil; binding it to the deleted category would hide it
        // from everyone, since no group holds a flag on it any more.
        .write(tx.as_mut(), ctx)
        .await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str, parent: Option<CategoryId>) -> Category {
        Category {
            id: CategoryId::new(),
            org_id: OrgId::new(),
            name: name.into(),
            parent_id: parent,
            sensitive: false,
            position: 0,
            version: 1,
        }
    }

    #[test]
    fn g1_a_category_cannot_move_under_its_own_sub_category() {
        let top = cat("Behaviour", None);
        let sub = cat("Against Peers", Some(top.id));
        let subsub = cat("Online", Some(sub.id));
        let all = vec![top.clone(), sub.clone(), subsub.clone()];
        for parent in [top.id, subsub.id] {
            let Err(DomainError::Validation(e)) =
                check_fields(&all, top.id, "Behaviour", Some(parent))
            else {
                panic!("a cycle was accepted");
            };
            assert_eq!(e[0].code, "cycle");
        }
        assert!(check_fields(&all, subsub.id, "Online", None).is_ok());
    }

    #[test]
    fn g1_sibling_names_are_unique_whatever_the_case() {
        let top = cat("Behaviour", None);
        let sub = cat("Against Peers", Some(top.id));
        let all = vec![top.clone(), sub.clone()];
        let r = check_fields(&all, CategoryId::new(), "against peers", Some(top.id));
        assert!(matches!(
            r,
            Err(DomainError::Conflict {
                code: "category_name_in_use",
                ..
            })
        ));
        // The same name elsewhere in the tree is fine.
        assert!(check_fields(&all, CategoryId::new(), "Against Peers", None).is_ok());
    }
}
