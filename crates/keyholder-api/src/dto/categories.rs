//! Incident categories (G3).

use super::*;

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryOut {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    /// Child protection and its sub-categories: always need a second factor (G2). A category
    /// under a sensitive one is treated as sensitive whatever its own flag says.
    pub sensitive: bool,
    /// Order among its siblings (0 first).
    pub position: i32,
    pub version: i64,
}

impl From<Category> for CategoryOut {
    fn from(c: Category) -> Self {
        CategoryOut {
            id: c.id.0,
            name: c.name,
            parent_id: c.parent_id.map(|p| p.0),
            sensitive: c.sensitive,
            position: c.position,
            version: c.version,
        }
    }
}

/// A new category; with `parent_id`, a sub-category.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategoryIn {
    pub name: String,
    pub parent_id: Option<Uuid>,
    #[serde(default)]
    pub sensitive: bool,
}

/// Only the fields to change; `"parent_id": null` makes the category top level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryIn {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
    pub sensitive: Option<bool>,
    pub position: Option<i32>,
}
