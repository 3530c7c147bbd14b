//! The French demo company loaded by `carnet serve --demo`. Loading twice adds nothing: each
//! record is looked up by its natural key (unit name, user email, group name) first.

use crate::access::Actor;
use crate::error::Result;
use crate::http::AppState;
use crate::identity::users::{self, UserForm};
use crate::org::groups::{self, GroupInput};
use crate::org::units::{self, UnitInput};

pub const PASSWORD: &str = "carnet-demo-2026";
pub const ADMIN_EMAIL: &str = "admin@carnet.demo";

pub struct DemoLogin {
    pub email: &'static str,
    pub password: &'static str,
}

async fn unit(st: &AppState, name: &str, kind: &str, parent: Option<i64>) -> Result<i64> {
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM org_units WHERE name = $1").bind(name).fetch_optional(&st.db.pool).await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let input = UnitInput::parse(name, kind, parent)?;
    Ok(units::create(&st.db, &Actor::system(), st.now(), &input).await?.id)
}

async fn user(st: &AppState, email: &str, name: &str, role: &str, unit: i64, lang: &str) -> Result<i64> {
    if let Some(u) = users::by_email(&st.db, email).await? {
        return Ok(u.id);
    }
    let form = UserForm {
        email: email.into(),
        name: name.into(),
        language: Some(lang.into()),
        role: role.into(),
        org_unit_id: Some(unit),
        active: Some(true),
        password: Some(PASSWORD.into()),
    };
    let input = form.parse()?;
    Ok(users::create(&st.db, &Actor::system(), st.now(), &input, Some(PASSWORD)).await?.id)
}

async fn group(st: &AppState, name: &str, description: &str, unit: Option<i64>, members: Vec<i64>) -> Result<()> {
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1").bind(name).fetch_optional(&st.db.pool).await?;
    if existing.is_some() {
        return Ok(());
    }
    let input = GroupInput::parse(name, description, unit, members)?;
    groups::create(&st.db, &Actor::system(), st.now(), &input).await?;
    Ok(())
}

/// Loads the demo company; returns the administrator's login.
pub async fn load(st: &AppState) -> Result<DemoLogin> {
    let company = unit(st, "Groupe Auto Carnet", "company", None).await?;
    let montreal = unit(st, "Région Grand Montréal", "region", Some(company)).await?;
    let quebec = unit(st, "Région Capitale-Nationale", "region", Some(company)).await?;
    let laval = unit(st, "Succursale Laval", "branch", Some(montreal)).await?;
    let longueuil = unit(st, "Succursale Longueuil", "branch", Some(montreal)).await?;
    let sainte_foy = unit(st, "Succursale Sainte-Foy", "branch", Some(quebec)).await?;
    let bdc = unit(st, "BDC Montréal", "team", Some(montreal)).await?;
    let ventes_laval = unit(st, "Ventes Laval", "team", Some(laval)).await?;
    let service_laval = unit(st, "Service Laval", "team", Some(laval)).await?;
    let ventes_longueuil = unit(st, "Ventes Longueuil", "team", Some(longueuil)).await?;
    let avant_vente = unit(st, "Avant-vente", "team", Some(company)).await?;

    user(st, ADMIN_EMAIL, "Administrateur Carnet", "administrateur", company, "fr").await?;
    let dir = user(st, "sophie.gagnon@carnet.demo", "Sophie Gagnon", "directeur_ventes", montreal, "fr").await?;
    let r1 = user(st, "marc.tremblay@carnet.demo", "Marc Tremblay", "representant", ventes_laval, "fr").await?;
    let r2 = user(st, "julie.roy@carnet.demo", "Julie Roy", "representant", ventes_laval, "fr").await?;
    let r3 = user(st, "kevin.belanger@carnet.demo", "Kevin Bélanger", "representant", ventes_longueuil, "en").await?;
    let r4 = user(st, "helene.cote@carnet.demo", "Hélène Côté", "representant", sainte_foy, "fr").await?;
    let a1 = user(st, "nadia.bouchard@carnet.demo", "Nadia Bouchard", "agent_bdc", bdc, "fr").await?;
    let a2 = user(st, "olivier.lavoie@carnet.demo", "Olivier Lavoie", "agent_bdc", bdc, "fr").await?;
    let s1 = user(st, "camille.fortin@carnet.demo", "Camille Fortin", "agent_support", service_laval, "fr").await?;
    let t1 = user(st, "luc.gauthier@carnet.demo", "Luc Gauthier", "technicien", service_laval, "fr").await?;
    let t2 = user(st, "emma.morin@carnet.demo", "Emma Morin", "technicien", service_laval, "en").await?;
    let p1 = user(st, "thomas.pelletier@carnet.demo", "Thomas Pelletier", "avant_vente", avant_vente, "fr").await?;

    group(st, "DV Laval", "Directeurs et représentants de la succursale de Laval", Some(laval), vec![dir, r1, r2]).await?;
    group(st, "DV Longueuil", "Équipe des ventes de Longueuil", Some(longueuil), vec![dir, r3]).await?;
    group(st, "BDC", "Agents du centre de développement des affaires", Some(bdc), vec![a1, a2]).await?;
    group(st, "Techniciens Laval", "Techniciens du service de Laval", Some(service_laval), vec![s1, t1, t2]).await?;
    group(st, "Avant-vente", "Ingénieurs avant-vente", Some(avant_vente), vec![p1]).await?;
    customers(st, &[(laval, r1), (laval, r2), (longueuil, r3), (sainte_foy, r4)]).await?;
    Ok(DemoLogin { email: ADMIN_EMAIL, password: PASSWORD })
}

/// Realistic French customers: people for the dealership, companies with contacts for the
/// service desk. Spread over branches and reps; recognised by email on a second load.
async fn customers(st: &AppState, owners: &[(i64, i64)]) -> Result<()> {
    use crate::customers::{store, ContactForm, CustomerForm};
    const FIRST: &[&str] = &[
        "Hélène", "Mathieu", "Chloé", "Gabriel", "Léa", "Étienne", "Amélie", "Félix", "Noémie", "Antoine", "Juliette", "Olivier", "Maëlle",
        "Samuel", "Rosalie", "Thomas", "Zoé", "William", "Camille", "Louis",
    ];
    const LAST: &[&str] = &[
        "Tremblay",
        "Gagnon",
        "Roy",
        "Côté",
        "Bouchard",
        "Gauthier",
        "Morin",
        "Lavoie",
        "Fortin",
        "Gagné",
        "Ouellet",
        "Pelletier",
        "Bélanger",
        "Lévesque",
        "Bergeron",
        "Leblanc",
        "Paquette",
        "Girard",
        "Simard",
        "Boucher",
    ];
    const STREETS: &[&str] =
        &["boul. Saint-Martin Ouest", "rue Principale", "boul. des Laurentides", "rue Notre-Dame", "chemin Sainte-Foy", "boul. Taschereau"];
    const COMPANIES: &[(&str, &str, &str, &str)] = &[
        ("Boulangerie Les Trois Épis", "Marie", "Lemieux", "boulangerie3epis.ca"),
        ("Garage Côté & Fils", "Denis", "Côté", "garagecote.ca"),
        ("Clinique vétérinaire Laval-Ouest", "Sophie", "Dubé", "cliniquelo.ca"),
        ("Transports Beauce Express", "Martin", "Poulin", "beauceexpress.ca"),
        ("Résidence Les Jardins fleuris", "Nathalie", "Caron", "jardinsfleuris.ca"),
        ("Imprimerie Saint-Laurent", "Pierre", "Nadeau", "imprimeriesl.ca"),
        ("Cabinet Dentaire du Vieux-Longueuil", "Isabelle", "Rioux", "dentairevl.ca"),
        ("Pharmacie Fortin", "Luc", "Fortin", "pharmaciefortin.ca"),
    ];
    let actor = Actor::system();
    let region = "CA";
    for i in 0..32usize {
        let first = FIRST[(i * 7) % FIRST.len()];
        let last = LAST[(i * 3 + i / 5) % LAST.len()];
        let email = format!("{}.{}{}@exemple.ca", crate::search::fold(first), crate::search::fold(last), i);
        let mut conn = st.db.pool.acquire().await?;
        if !store::lookup(&mut conn, Some(&email), &[], None).await?.is_empty() {
            continue;
        }
        drop(conn);
        let (branch, owner) = owners[i % owners.len()];
        let form = CustomerForm {
            kind: "person".into(),
            civility: Some(if i % 2 == 0 { "mme" } else { "m" }.into()),
            first_name: first.into(),
            last_name: last.into(),
            email,
            phone: format!("514 555-{:04}", 1000 + i),
            mobile: if i % 3 == 0 { format!("438 555-{:04}", 2000 + i) } else { String::new() },
            address: format!("{} {}, Laval (Québec)", 100 + i * 17, STREETS[i % STREETS.len()]),
            language: Some(if i % 6 == 5 { "en" } else { "fr" }.into()),
            branch_id: Some(branch),
            owner_id: Some(owner),
            notes: if i % 4 == 0 { "Intéressé par un VUS hybride ; préfère être appelé en soirée.".into() } else { String::new() },
            particularities: if i % 9 == 0 { vec!["vip".into()] } else { Vec::new() },
            company_name: String::new(),
        };
        let input = form.parse(region)?;
        store::create(&st.db, &actor, st.now(), &input, true).await?;
    }
    for (i, (name, cf, cl, domain)) in COMPANIES.iter().enumerate() {
        let email = format!("info@{domain}");
        let mut conn = st.db.pool.acquire().await?;
        if !store::lookup(&mut conn, Some(&email), &[], None).await?.is_empty() {
            continue;
        }
        drop(conn);
        let (branch, owner) = owners[i % owners.len()];
        let form = CustomerForm {
            kind: "company".into(),
            company_name: (*name).into(),
            email,
            phone: format!("450 555-{:04}", 3000 + i),
            address: format!("{} {}, Laval (Québec)", 2000 + i * 31, STREETS[(i + 2) % STREETS.len()]),
            language: Some("fr".into()),
            branch_id: Some(branch),
            owner_id: Some(owner),
            particularities: if i % 3 == 0 { vec!["flotte".into()] } else { Vec::new() },
            ..Default::default()
        };
        let input = form.parse(region)?;
        let c = store::create(&st.db, &actor, st.now(), &input, true).await?;
        for (j, (f, l, role)) in [(*cf, *cl, "direction"), ("Karine", "Vachon", "comptabilite")].iter().enumerate() {
            let contact = ContactForm {
                civility: Some(if j == 0 { "mme" } else { "m" }.into()),
                first_name: (*f).into(),
                last_name: (*l).into(),
                email: format!("{}.{}@{domain}", crate::search::fold(f), role),
                phone: format!("450 555-{:04}", 4000 + i * 10 + j),
                mobile: if j == 0 { format!("514 555-{:04}", 5000 + i) } else { String::new() },
                particularities: Vec::new(),
                notes: if j == 1 { "Joindre pour la facturation.".into() } else { String::new() },
            };
            store::create_contact(&st.db, &actor, st.now(), c.id, &contact.parse(region)?).await?;
        }
    }
    Ok(())
}
