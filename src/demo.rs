//! `serve --demo`: an org `demo` modelled on the primary school of the admin guides in
//! `shared/reference/` (CPOMS Primary School): its admin, and staff accounts in the default
//! groups. Runs once; a second start finds the org and leaves it alone.

use keyholder_domain::model::RequestContext;
use keyholder_domain::services::{Keyholder, NewOrg};

/// (title, forename, surname, job title, group)
const STAFF: &[(&str, &str, &str, &str, &str)] = &[
    ("Ms", "Sienna", "Maxfield", "Headteacher", "SLT"),
    ("Mr", "Hakim", "Aryan", "Deputy Headteacher", "SLT"),
    ("Mrs", "Adele", "Atkins", "Assistant Headteacher", "SLT"),
    ("Ms", "Katie", "Atkinson", "SENCo", "SLT"),
    (
        "Mr",
        "Theodore",
        "Brown",
        "Attendance Officer",
        "Administration",
    ),
    ("Mr", "Chris", "Burdock", "Phase Leader", "SLT"),
    (
        "Mrs",
        "Sophia",
        "Christophorou",
        "Year 6 Teacher",
        "Teachers",
    ),
    ("Mr", "Daniel", "Coates", "Year 5 Teacher", "Teachers"),
    ("Ms", "Alice", "Robinson", "Year 1 Teacher", "Teachers"),
    ("Mrs", "Nicki", "Higgins", "Reception Teacher", "Teachers"),
    (
        "Mr",
        "Sam",
        "Mortimer",
        "Teaching Assistant",
        "Teaching Assistants",
    ),
    (
        "Ms",
        "Laura",
        "Wild",
        "Teaching Assistant",
        "Teaching Assistants",
    ),
    (
        "Mrs",
        "Suzanne",
        "Maxfield",
        "School Business Manager",
        "Administration",
    ),
];

pub struct DemoLogin {
    pub org: String,
    pub login: String,
    pub password: String,
}

/// Creates the demo org unless it exists; answers the admin's login when it made it.
pub async fn system_seed(kh: &Keyholder) -> Result<Option<DemoLogin>, String> {
    let ctx = RequestContext {
        ip: None,
        request_id: Some("demo-seed".into()),
    };
    let created = match kh
        .system_create_org(
            NewOrg {
                slug: "demo".into(),
                name: "CPOMS Primary School (demo)".into(),
                admin_email: "dsl@demo.school".into(),
                admin_password: None,
            },
            &ctx,
        )
        .await
    {
        Ok(c) => c,
        Err(keyholder_domain::DomainError::OrgSlugInUse) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let staff: Vec<_> = STAFF
        .iter()
        .map(
            |(title, forename, surname, job, group)| keyholder_domain::services::DemoUser {
                title: (*title).into(),
                forename: (*forename).into(),
                surname: (*surname).into(),
                job_title: (*job).into(),
                email: format!(
                    "{}.{}@demo.school",
                    forename.to_lowercase(),
                    surname.to_lowercase()
                ),
                group: (*group).into(),
            },
        )
        .collect();
    kh.system_seed_users(created.org.id, &staff, &ctx)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(DemoLogin {
        org: created.org.slug,
        login: created.admin.email.unwrap_or_default(),
        password: created.generated_password.unwrap_or_default(),
    }))
}
