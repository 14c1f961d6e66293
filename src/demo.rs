//! `serve --demo`: an org `demo` modelled on the primary school of the admin guides in
//! `shared/reference/` (CPOMS Primary School): its admin, and staff accounts in the default
//! groups. Runs once; a second start finds the org and leaves it alone.

use keyholder_domain::ids::*;
use keyholder_domain::model::{
    Contract, Hours, OrgSettings, RequestContext, StaffMember, Student, StudentGroup,
    StudentGroupType,
};
use keyholder_domain::services::{Keyholder, NewOrg, PeopleSeed};
use time::{Date, Month};

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
    kh.system_seed_people(created.org.id, people(created.org.id, &staff), &ctx)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(DemoLogin {
        org: created.org.slug,
        login: created.admin.email.unwrap_or_default(),
        password: created.generated_password.unwrap_or_default(),
    }))
}

fn date(y: i32, m: Month, d: u8) -> Date {
    Date::from_calendar_date(y, m, d).unwrap_or(Date::MIN)
}

type Day = (i32, Month, u8);
/// (title, forename, surname, job title, contract, hours, start, end)
type OtherStaff = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Contract,
    Hours,
    Day,
    Option<Day>,
);

/// Staff without accounts, one of each kind S2 tells apart.
const OTHER_STAFF: &[OtherStaff] = &[
    (
        "Ms",
        "Priya",
        "Shah",
        "Year 2 Teacher",
        Contract::Permanent,
        Hours::FullTime,
        (2024, Month::September, 2),
        None,
    ),
    (
        "Mr",
        "Tom",
        "Evans",
        "Supply Teacher",
        Contract::Supply,
        Hours::FullTime,
        (2026, Month::September, 1),
        None,
    ),
    (
        "Ms",
        "Hannah",
        "Lee",
        "Learning Mentor",
        Contract::Permanent,
        Hours::PartTime,
        (2022, Month::January, 4),
        None,
    ),
    (
        "Mrs",
        "Grace",
        "Okoro",
        "Year 4 Teacher",
        Contract::Permanent,
        Hours::FullTime,
        (2030, Month::January, 7),
        None,
    ),
    (
        "Mr",
        "Jonathan",
        "Taylor",
        "Phase Leader",
        Contract::Permanent,
        Hours::FullTime,
        (2015, Month::September, 1),
        Some((2025, Month::July, 18)),
    ),
];

/// (name, MIS id as in the admin guide's Academic Levels table)
const YEARS: &[(&str, &str)] = &[
    ("Reception", "102-41"),
    ("Year 1", "102-42"),
    ("Year 2", "102-43"),
    ("Year 3", "102-44"),
    ("Year 4", "102-45"),
    ("Year 5", "102-46"),
    ("Year 6", "102-47"),
];

/// (forename, surname, birth year, year index)
const PUPILS: &[(&str, &str, i32, usize)] = &[
    ("Amelia", "Hughes", 2022, 0),
    ("Noah", "Patel", 2021, 0),
    ("Olivia", "Wright", 2021, 1),
    ("Leo", "Kowalski", 2020, 1),
    ("Isla", "Bennett", 2020, 2),
    ("Mohammed", "Rahman", 2019, 2),
    ("Freya", "Campbell", 2019, 3),
    ("Oscar", "Nwosu", 2018, 3),
    ("Ava", "Thompson", 2018, 4),
    ("Arthur", "Doyle", 2017, 4),
    ("Lily", "Fraser", 2017, 5),
    ("George", "Ahmed", 2016, 5),
    ("Sofia", "Rossi", 2016, 6),
    ("Harry", "Evans", 2015, 6),
];

/// Who is on which year's allow-list (R3): the admin guide's Year 1 list, each year's teacher,
/// the head, deputy and DSL everywhere.
fn allowed(year: usize) -> Vec<&'static str> {
    let mut who = vec![
        "dsl@demo.school",
        "sienna.maxfield@demo.school",
        "hakim.aryan@demo.school",
    ];
    match year {
        0 => who.push("nicki.higgins@demo.school"),
        1 => who.extend([
            "alice.robinson@demo.school",
            "theodore.brown@demo.school",
            "nicki.higgins@demo.school",
            "suzanne.maxfield@demo.school",
            "sam.mortimer@demo.school",
            "laura.wild@demo.school",
        ]),
        5 => who.push("daniel.coates@demo.school"),
        6 => who.push("sophia.christophorou@demo.school"),
        _ => {}
    }
    who
}

fn people(org: OrgId, accounts: &[keyholder_domain::services::DemoUser]) -> PeopleSeed {
    let mut staff = Vec::new();
    for (i, a) in accounts.iter().enumerate() {
        let part_time = a.job_title == "Teaching Assistant";
        staff.push((
            StaffMember {
                id: StaffId::new(),
                org_id: org,
                mis_id: Some(format!("S{:03}", i + 1)),
                title: Some(a.title.clone()),
                forename: a.forename.clone(),
                surname: a.surname.clone(),
                email: Some(a.email.clone()),
                job_title: Some(a.job_title.clone()),
                contract: Contract::Permanent,
                hours: if part_time {
                    Hours::PartTime
                } else {
                    Hours::FullTime
                },
                start_date: date(2019, Month::September, 2),
                end_date: None,
                user_ids: vec![],
                version: 1,
            },
            Some(a.email.clone()),
        ));
    }
    for (i, (title, forename, surname, job, contract, hours, start, end)) in
        OTHER_STAFF.iter().enumerate()
    {
        staff.push((
            StaffMember {
                id: StaffId::new(),
                org_id: org,
                mis_id: Some(format!("S{:03}", 100 + i)),
                title: Some((*title).into()),
                forename: (*forename).into(),
                surname: (*surname).into(),
                email: Some(format!(
                    "{}.{}@demo.school",
                    forename.to_lowercase(),
                    surname.to_lowercase()
                )),
                job_title: Some((*job).into()),
                contract: *contract,
                hours: *hours,
                start_date: date(start.0, start.1, start.2),
                end_date: end.map(|e| date(e.0, e.1, e.2)),
                user_ids: vec![],
                version: 1,
            },
            None,
        ));
    }
    let mut groups = Vec::new();
    for (name, mis) in YEARS {
        groups.push(StudentGroup {
            id: StudentGroupId::new(),
            org_id: org,
            mis_id: Some((*mis).into()),
            kind: StudentGroupType::AcademicLevel,
            name: (*name).into(),
            archived: false,
            version: 1,
        });
    }
    for (name, _) in YEARS {
        let short = if *name == "Reception" {
            "R".to_owned()
        } else {
            name.replace("Year ", "")
        };
        groups.push(StudentGroup {
            id: StudentGroupId::new(),
            org_id: org,
            mis_id: Some(format!("REG-{short}")),
            kind: StudentGroupType::RegistrationGroup,
            name: format!("Class {short}"),
            archived: false,
            version: 1,
        });
    }
    let students = PUPILS
        .iter()
        .enumerate()
        .map(|(i, (forename, surname, born, year))| {
            let short = if *year == 0 {
                "R".to_owned()
            } else {
                year.to_string()
            };
            (
                Student {
                    id: StudentId::new(),
                    org_id: org,
                    mis_id: format!("P{:04}", i + 1),
                    forename: (*forename).into(),
                    surname: (*surname).into(),
                    date_of_birth: Some(date(*born, Month::March, (i % 27 + 1) as u8)),
                    on_roll: true,
                },
                vec![YEARS[*year].1.to_owned(), format!("REG-{short}")],
            )
        })
        .collect();
    let access = YEARS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, mis))| {
            allowed(i)
                .into_iter()
                .map(move |e| ((*mis).to_owned(), e.to_owned()))
        })
        .collect();
    PeopleSeed {
        staff,
        groups,
        students,
        access,
        settings: Some(OrgSettings {
            restricted_group_types: vec![StudentGroupType::AcademicLevel],
            ..OrgSettings::default()
        }),
    }
}
