//! G1 categories and R9 monitoring marks.

use crate::db_err;
use crate::entities::*;
use keyholder_domain::Result;
use keyholder_domain::ids::*;
use keyholder_domain::model::Category;
use keyholder_domain::permission::CategoryFlags;
use keyholder_domain::ports::CategoryUsage;
use sea_orm::DatabaseTransaction;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

pub(crate) async fn update(
    txn: &DatabaseTransaction,
    c: &Category,
    expected_version: i64,
) -> Result<bool> {
    let res = categories::Entity::update_many()
        .set(crate::convert::category_row(c))
        .filter(categories::Column::OrgId.eq(c.org_id.0))
        .filter(categories::Column::Id.eq(c.id.0))
        .filter(categories::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected == 1)
}

pub(crate) async fn usage(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: CategoryId,
) -> Result<CategoryUsage> {
    Ok(CategoryUsage {
        sub_categories: categories::Entity::find()
            .filter(categories::Column::OrgId.eq(org.0))
            .filter(categories::Column::ParentId.eq(id.0))
            .count(txn)
            .await
            .map_err(db_err)?,
        incidents: incidents::Entity::find()
            .filter(incidents::Column::OrgId.eq(org.0))
            .filter(incidents::Column::CategoryId.eq(id.0))
            .count(txn)
            .await
            .map_err(db_err)?,
        monitored_students: student_monitoring::Entity::find()
            .filter(student_monitoring::Column::OrgId.eq(org.0))
            .filter(student_monitoring::Column::CategoryId.eq(id.0))
            .count(txn)
            .await
            .map_err(db_err)?,
    })
}

pub(crate) async fn delete(txn: &DatabaseTransaction, org: OrgId, id: CategoryId) -> Result<()> {
    group_category_permissions::Entity::delete_many()
        .filter(group_category_permissions::Column::OrgId.eq(org.0))
        .filter(group_category_permissions::Column::CategoryId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    notification_prefs::Entity::delete_many()
        .filter(notification_prefs::Column::OrgId.eq(org.0))
        .filter(notification_prefs::Column::CategoryId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    student_monitoring::Entity::delete_many()
        .filter(student_monitoring::Column::OrgId.eq(org.0))
        .filter(student_monitoring::Column::CategoryId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    categories::Entity::delete_many()
        .filter(categories::Column::OrgId.eq(org.0))
        .filter(categories::Column::Id.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn monitored(
    txn: &DatabaseTransaction,
    org: OrgId,
    students: &[StudentId],
    categories: &[CategoryId],
) -> Result<Vec<(StudentId, CategoryId)>> {
    Ok(student_monitoring::Entity::find()
        .select_only()
        .column(student_monitoring::Column::StudentId)
        .column(student_monitoring::Column::CategoryId)
        .filter(student_monitoring::Column::OrgId.eq(org.0))
        .filter(student_monitoring::Column::StudentId.is_in(students.iter().map(|s| s.0)))
        .filter(student_monitoring::Column::CategoryId.is_in(categories.iter().map(|c| c.0)))
        .into_tuple::<(uuid::Uuid, uuid::Uuid)>()
        .all(txn)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|(s, c)| (StudentId(s), CategoryId(c)))
        .collect())
}

pub(crate) async fn set_monitored(
    txn: &DatabaseTransaction,
    org: OrgId,
    student: StudentId,
    category: CategoryId,
    on: bool,
    by: UserId,
    at: i64,
) -> Result<bool> {
    let existing = student_monitoring::Entity::find()
        .filter(student_monitoring::Column::OrgId.eq(org.0))
        .filter(student_monitoring::Column::StudentId.eq(student.0))
        .filter(student_monitoring::Column::CategoryId.eq(category.0))
        .count(txn)
        .await
        .map_err(db_err)?
        > 0;
    match (existing, on) {
        (false, true) => {
            student_monitoring::Entity::insert(student_monitoring::ActiveModel {
                org_id: Set(org.0),
                student_id: Set(student.0),
                category_id: Set(category.0),
                created_by: Set(Some(by.0)),
                created_at: Set(at),
            })
            .on_conflict_do_nothing()
            .exec_without_returning(txn)
            .await
            .map_err(db_err)?;
            Ok(true)
        }
        (true, false) => {
            student_monitoring::Entity::delete_many()
                .filter(student_monitoring::Column::OrgId.eq(org.0))
                .filter(student_monitoring::Column::StudentId.eq(student.0))
                .filter(student_monitoring::Column::CategoryId.eq(category.0))
                .exec(txn)
                .await
                .map_err(db_err)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub(crate) async fn flags(
    txn: &DatabaseTransaction,
    org: OrgId,
    category: CategoryId,
) -> Result<Vec<(GroupId, CategoryFlags)>> {
    Ok(group_category_permissions::Entity::find()
        .filter(group_category_permissions::Column::OrgId.eq(org.0))
        .filter(group_category_permissions::Column::CategoryId.eq(category.0))
        .all(txn)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| {
            (
                GroupId(m.group_id),
                CategoryFlags {
                    view_students: m.view_students,
                    view_incidents: m.view_incidents,
                    add_incidents: m.add_incidents,
                },
            )
        })
        .collect())
}

pub(crate) async fn grant(
    txn: &DatabaseTransaction,
    org: OrgId,
    category: CategoryId,
    grants: &[(GroupId, CategoryFlags)],
) -> Result<()> {
    let grants: Vec<_> = grants.iter().filter(|(_, f)| !f.is_none()).collect();
    if grants.is_empty() {
        return Ok(());
    }
    group_category_permissions::Entity::insert_many(grants.iter().map(|(g, f)| {
        group_category_permissions::ActiveModel {
            org_id: Set(org.0),
            group_id: Set(g.0),
            category_id: Set(category.0),
            view_students: Set(f.view_students),
            view_incidents: Set(f.view_incidents),
            add_incidents: Set(f.add_incidents),
        }
    }))
    .exec_without_returning(txn)
    .await
    .map_err(db_err)?;
    user_groups::Entity::update_many()
        .col_expr(
            user_groups::Column::Version,
            Expr::col(user_groups::Column::Version).add(1),
        )
        .filter(user_groups::Column::OrgId.eq(org.0))
        .filter(user_groups::Column::Id.is_in(grants.iter().map(|(g, _)| g.0)))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}
