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
    /// A customer's contact with access to the customer portal (same password).
    pub portal_email: Option<String>,
    /// A reseller's user with access to the partner portal (same password).
    pub partner_email: Option<String>,
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
    let partenaires = unit(st, "Réseau partenaires", "team", Some(company)).await?;
    let cm = user(st, "ines.lefebvre@carnet.demo", "Inès Lefebvre", "responsable_partenaires", partenaires, "fr").await?;

    group(st, "DV Laval", "Directeurs et représentants de la succursale de Laval", Some(laval), vec![dir, r1, r2]).await?;
    group(st, "DV Longueuil", "Équipe des ventes de Longueuil", Some(longueuil), vec![dir, r3]).await?;
    group(st, "BDC", "Agents du centre de développement des affaires", Some(bdc), vec![a1, a2]).await?;
    group(st, "Techniciens Laval", "Techniciens du service de Laval", Some(service_laval), vec![s1, t1, t2]).await?;
    group(st, "Avant-vente", "Ingénieurs avant-vente", Some(avant_vente), vec![p1]).await?;
    customers(st, &[(laval, r1), (laval, r2), (longueuil, r3), (sainte_foy, r4)]).await?;
    sales(st, a1).await?;
    group(st, "Support", "Support de l'espace client", Some(service_laval), vec![s1]).await?;
    service(st, s1, &[t1, t2]).await?;
    let portal_email = portal(st).await?;
    let partner_email = partners(st, partenaires, cm).await?;
    presales(st, p1).await?;
    Ok(DemoLogin { email: ADMIN_EMAIL, password: PASSWORD, portal_email, partner_email })
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

/// Opportunities in every status, leads, meetings today and in the coming days, calls, and a
/// small stock, for the demo customers (once: nothing is added when opportunities exist).
async fn sales(st: &AppState, agent: i64) -> Result<()> {
    use crate::access::RightSet;
    use crate::sales::{calls, leads, meetings, stock, store, OpportunityInput};
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM opportunities").fetch_one(&st.db.pool).await?;
    if existing > 0 {
        return Ok(());
    }
    let system = Actor::system();
    let now = st.now();
    let zone = crate::settings::zone(&st.db).await?;
    // Julie takes part in one of Marc's meetings (participant access); one Internet lead names
    // the Laval branch (routed in turn to its representatives), the others wait in the BDC queue.
    let julie: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'julie.roy@carnet.demo'").fetch_optional(&st.db.pool).await?;
    let laval: Option<i64> =
        sqlx::query_scalar("SELECT id FROM org_units WHERE name = 'Succursale Laval'").fetch_optional(&st.db.pool).await?;
    const UNITS: &[(&str, &str, &str)] = &[
        ("A1234", "Honda Civic 2024, gris météore, 12 000 km", "disponible"),
        ("A1301", "Toyota RAV4 hybride 2025, blanc nacré", "disponible"),
        ("B2210", "Mazda CX-5 GT 2023, rouge cristal", "reserve"),
        ("B2288", "Hyundai Ioniq 5 2024, bleu lucid", "disponible"),
        ("C3105", "Kia Telluride 2024, noir ébène", "disponible"),
        ("C3177", "Subaru Outback 2023, vert autumn", "vendu"),
        ("D4002", "Ford F-150 Lightning 2024, argent", "disponible"),
        ("D4050", "Volkswagen ID.4 2025, blanc glacier", "disponible"),
    ];
    let mut unit_ids = Vec::new();
    for (n, d, status) in UNITS {
        let input =
            stock::StockForm { stock_number: (*n).into(), description: (*d).into(), status: (*status).into(), branch_id: None }.parse()?;
        unit_ids.push(stock::create(&st.db, &system, now, &input).await?.id);
    }
    let people: Vec<(i64, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT id, owner_id, branch_id FROM customers WHERE kind = 'person' ORDER BY id LIMIT 32")
            .fetch_all(&st.db.pool)
            .await?;
    // Paths through the status table (each step a real status change with its effects).
    const PATHS: &[&[&str]] = &[
        &[],
        &["reponse_envoyee"],
        &["contacte"],
        &["contacte", "rdv_cedule"],
        &["rdv_cedule", "rdv_present"],
        &["rdv_present", "pris_en_charge"],
        &["pris_en_charge", "vendu_non_livre"],
        &["pris_en_charge", "livre"],
        &["contacte", "suivi_long_terme"],
        &["perdu_bdc"],
        &["rdv_present", "perdu_salle"],
        &["pris_en_charge", "perdu_fi"],
        &["invalide_bdc"],
    ];
    const LEAD_TYPES: &[&str] = &["internet", "phone_up", "clavardage", "sms"];
    const NOTES: &[&str] = &[
        "Cherche un VUS familial, budget autour de 45 000 $.",
        "Veut un essai routier samedi matin.",
        "Échange possible : Corolla 2016, 140 000 km.",
        "Demande le financement sur 60 mois.",
    ];
    let mut booked = Vec::new();
    for (i, (customer, owner, branch)) in people.iter().enumerate() {
        let owner_name: Option<String> = match owner {
            Some(o) => sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(*o).fetch_optional(&st.db.pool).await?,
            None => None,
        };
        let actor = Actor { id: *owner, name: owner_name.unwrap_or_else(|| "système".into()), request_id: None };
        let input = OpportunityInput {
            name: String::new(),
            customer_id: *customer,
            lead_type: Some(LEAD_TYPES[i % LEAD_TYPES.len()].into()),
            status: None,
            owner_id: *owner,
            branch_id: *branch,
            stock_unit_ids: if i % 3 == 2 { Vec::new() } else { vec![unit_ids[i % unit_ids.len()]] },
            // A vehicle's price, for most of them; a close date a few weeks ahead.
            amount_cents: (i % 5 != 4).then_some((24_000 + (i as i64 * 7_919) % 41_000) * 100),
            expected_close_on: (i % 2 == 0).then(|| zone.date(now + (7 + (i as i64 % 6) * 7) * 86_400_000)),
        };
        // Spread the creation dates over the last weeks.
        let created = now - (i as i64 % 10) * 3 * 86_400_000 - 3_600_000;
        let o = store::create(&st.db, &actor, created, &input).await?;
        store::add_note(&st.db, &actor, created + 600_000, o.id, NOTES[i % NOTES.len()]).await?;
        for (k, status) in PATHS[i % PATHS.len()].iter().enumerate() {
            store::change_status(&st.db, &actor, created + (k as i64 + 1) * 86_400_000, o.id, status, RightSet::all()).await?;
        }
        if PATHS[i % PATHS.len()].last() == Some(&"rdv_cedule") || i % PATHS.len() == 0 {
            booked.push((o.id, *owner, i));
        }
        if let Some(o_owner) = owner.filter(|_| i % 4 == 1) {
            let due = zone.parse_local(&zone.date(now), &format!("{:02}:30", 9 + i % 8)).unwrap_or(now);
            let call = calls::CallInput {
                file: calls::File::Opportunity(o.id),
                owner_id: o_owner,
                due_at: due,
                subject: "Relancer pour l'essai routier".into(),
                notes: String::new(),
            };
            let mut tx = st.db.begin().await?;
            calls::schedule_in(&mut tx, &actor, now, &call, false).await?;
            tx.commit().await?;
        }
    }
    // Meetings: today and the next days, at the branch.
    for (n, (opp, owner, i)) in booked.iter().enumerate() {
        let day = now + (n as i64 % 4) * 86_400_000;
        let start = format!("{:02}:00", 10 + (i % 6));
        let end = format!("{:02}:00", 11 + (i % 6));
        let form = meetings::MeetingForm {
            opportunity_id: Some(*opp),
            kind: if n % 3 == 0 { "inventaire".into() } else { "stock".into() },
            date: zone.date(day),
            start_time: start,
            end_time: end,
            location: "Succursale Laval, 1600 boul. Saint-Martin Ouest".into(),
            stock_numbers: if n % 3 == 0 { Vec::new() } else { vec![UNITS[n % UNITS.len()].0.into()] },
            deposit_method: if n % 4 == 3 { "stripe".into() } else { String::new() },
            description: "Essai routier et présentation du financement.".into(),
            user_ids: if n == 1 { julie.into_iter().collect() } else { Vec::new() },
            ..Default::default()
        };
        let actor = Actor { id: *owner, name: "Démo".into(), request_id: None };
        let vis = crate::access::Visibility::everything(owner.unwrap_or_default());
        meetings::create(&st.db, &actor, &vis, now, &form.parse(zone)?, zone).await?;
    }
    // Internet leads: one for a known customer (merged), two new customers.
    let agent_actor = Actor { id: Some(agent), name: "Nadia Bouchard".into(), request_id: None };
    let known: Option<Option<String>> =
        sqlx::query_scalar("SELECT email FROM customers WHERE kind = 'person' ORDER BY id LIMIT 1").fetch_optional(&st.db.pool).await?;
    let mut lead_forms = vec![
        leads::LeadForm {
            first_name: "Antoine".into(),
            last_name: "Lévesque".into(),
            email: "antoine.levesque@exemple.ca".into(),
            phone: "418 555-0199".into(),
            message: "Bonjour, le RAV4 hybride est-il encore disponible ? Je peux passer jeudi.".into(),
            source: "site web".into(),
            stock_number: "A1301".into(),
            lead_type: Some("internet".into()),
            branch_id: laval,
        },
        leads::LeadForm {
            first_name: "Maëlle".into(),
            last_name: "Girard".into(),
            phone: "450 555-0177".into(),
            message: "Demande de rappel pour une Ioniq 5.".into(),
            source: "AutoHebdo".into(),
            stock_number: "B2288".into(),
            lead_type: Some("internet".into()),
            ..Default::default()
        },
    ];
    if let Some(email) = known.flatten() {
        lead_forms.push(leads::LeadForm {
            email,
            message: "Je voudrais un nouveau rendez-vous pour l'essai.".into(),
            source: "site web".into(),
            lead_type: Some("internet".into()),
            ..Default::default()
        });
    }
    for (k, f) in lead_forms.iter().enumerate() {
        let input = f.parse("CA")?;
        leads::intake(&st.db, &agent_actor, now, &input, Some(&format!("demo-lead-{k}")), leads::Defaults::default()).await?;
    }
    Ok(())
}

/// Service requests for the demo companies: equipment with symptoms, customer updates,
/// interventions this week (one conflict to show), a return and a document (once).
async fn service(st: &AppState, agent: i64, technicians: &[i64]) -> Result<()> {
    use crate::service::{documents, equipment, interventions, returns, store, RequestForm};
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM service_requests").fetch_one(&st.db.pool).await?;
    if existing > 0 {
        return Ok(());
    }
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(agent).fetch_one(&st.db.pool).await?;
    let unit: Option<i64> = sqlx::query_scalar("SELECT org_unit_id FROM users WHERE id = $1").bind(agent).fetch_one(&st.db.pool).await?;
    let actor = Actor { id: Some(agent), name, request_id: None };
    let now = st.now();
    let zone = crate::settings::zone(&st.db).await?;
    let companies: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM customers WHERE kind = 'company' ORDER BY id").fetch_all(&st.db.pool).await?;
    const CASES: &[(&str, &str, &str, &str, &str)] = &[
        ("panne", "fuite", "Le four mixte fuit par la porte depuis ce matin.", "FR-20931", "Four mixte Rational iCombi Pro"),
        ("maintenance", "", "Entretien annuel des chambres froides.", "CF-11802", "Chambre froide Foster"),
        ("panne", "ne_demarre_pas", "Le pétrin ne démarre plus après la coupure de courant.", "PT-55012", "Pétrin spirale VMI"),
        ("installation", "", "Installation d'une nouvelle laveuse industrielle.", "LV-30077", "Laveuse Hobart"),
        ("panne", "erreur_affichee", "Code E34 affiché sur le panneau de commande.", "CL-77201", "Climatiseur Daikin"),
        ("information", "", "Demande de devis pour un contrat d'entretien.", "FR-20932", "Four à sole Bongard"),
    ];
    // Service levels: business minutes to the first update and to closing.
    let target = |t: &str, p: &str, first: i64, close: i64| crate::service::sla::Target {
        request_type: t.into(),
        priority: p.into(),
        first_update_minutes: Some(first),
        close_minutes: Some(close),
    };
    let targets = [
        target("panne", "normale", 240, 2700),
        target("panne", "haute", 120, 1080),
        target("panne", "urgente", 60, 540),
        target("maintenance", "normale", 480, 4320),
        target("installation", "normale", 480, 4320),
        target("information", "normale", 480, 2160),
    ];
    crate::service::sla::set_targets(&st.db, &actor, now - 30 * 86_400_000, &targets).await?;
    for (i, (customer,)) in companies.iter().enumerate() {
        let (kind, symptom, description, serial, model) = CASES[i % CASES.len()];
        let contact: Option<i64> = sqlx::query_scalar("SELECT id FROM contacts WHERE customer_id = $1 ORDER BY id LIMIT 1")
            .bind(customer)
            .fetch_optional(&st.db.pool)
            .await?;
        let form = RequestForm {
            customer_id: Some(*customer),
            requester_contact_id: contact,
            request_type: kind.into(),
            symptom: Some(symptom.to_string()).filter(|s| !s.is_empty()),
            source: ["phone", "email", "staff", "portal"][i % 4].into(),
            description: description.into(),
            owner_id: Some(agent),
            branch_id: unit,
            priority: Some(if kind == "panne" && i % 2 == 0 { "haute" } else { "normale" }.into()),
            ..Default::default()
        };
        let created = now - (i as i64 + 1) * 86_400_000;
        let r = store::create(&st.db, &actor, created, &form.parse()?).await?;
        let eq = equipment::EquipmentForm {
            customer_id: Some(*customer),
            serial_number: serial.into(),
            model: model.into(),
            installed_on: "2022-05-16".into(),
            location: "Cuisine".into(),
        };
        equipment::create_line(&st.db, &actor, created + 60_000, r.id, &eq.parse()?, Some(symptom).filter(|s| !s.is_empty())).await?;
        if i % 3 != 2 {
            store::add_update(
                &st.db,
                &actor,
                created + 3_600_000,
                r.id,
                "en_cours",
                "Nous avons bien reçu votre demande ; un technicien vous contactera.",
            )
            .await?;
        }
        if i % 2 == 0 {
            let day = zone.date(now + (i as i64 % 4) * 86_400_000);
            let slot = interventions::InterventionForm {
                date: day,
                start_time: "08:30".into(),
                end_time: "11:00".into(),
                technician_ids: vec![technicians[(i / 2) % technicians.len()]],
                ..Default::default()
            };
            interventions::create(&st.db, &actor, created + 7_200_000, r.id, &slot.parse(zone)?).await?;
            store::add_update(
                &st.db,
                &actor,
                created + 7_300_000,
                r.id,
                "planifie",
                "Intervention planifiée ; le technicien vous appellera avant de passer.",
            )
            .await?;
        }
        if i == 1 {
            // Two interventions at once for the same technician: the planning shows the conflict.
            let slot = interventions::InterventionForm {
                date: zone.date(now),
                start_time: "09:00".into(),
                end_time: "10:00".into(),
                technician_ids: vec![technicians[0]],
                ..Default::default()
            };
            interventions::create(&st.db, &actor, now, r.id, &slot.parse(zone)?).await?;
        }
        if i == 2 {
            let eid: i64 = sqlx::query_scalar("SELECT equipment_id FROM request_equipment WHERE request_id = $1")
                .bind(r.id)
                .fetch_one(&st.db.pool)
                .await?;
            let f = returns::ReturnForm {
                request_id: Some(r.id),
                equipment_id: Some(eid),
                reason: "Carte électronique à remplacer en atelier.".into(),
                return_type: "repair".into(),
            };
            let x = returns::create(&st.db, &actor, now, r.id, &f).await?;
            returns::set_status(&st.db, &actor, now, x.id, "recu").await?;
        }
        if i == 0 {
            let text = "Rapport de visite\n\nJoint de porte usé ; remplacement prévu à la prochaine intervention.\n".as_bytes().to_vec();
            documents::upload(&st.db, &st.storage, &actor, now, r.id, "rapport-visite.txt", text, true, st.config.max_document_bytes)
                .await?;
        }
    }
    Ok(())
}

/// The customer portal: the first two companies may use it, and the first contact of each
/// has an account (the demo password), the first one a portal administrator who may invite
/// colleagues. Returns the first account's address.
async fn portal(st: &AppState) -> Result<Option<String>> {
    use crate::portal::accounts;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT email FROM portal_accounts ORDER BY id LIMIT 1").fetch_optional(&st.db.pool).await?;
    if existing.is_some() {
        return Ok(existing);
    }
    let actor = Actor::system();
    let now = st.now();
    let companies: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM customers WHERE kind = 'company' ORDER BY id LIMIT 2").fetch_all(&st.db.pool).await?;
    let mut first = None;
    for (i, customer) in companies.into_iter().enumerate() {
        accounts::set_customer_portal(&st.db, &actor, now, customer, true, i == 0).await?;
        let contact: Option<i64> =
            sqlx::query_scalar("SELECT id FROM contacts WHERE customer_id = $1 AND email IS NOT NULL ORDER BY id LIMIT 1")
                .bind(customer)
                .fetch_optional(&st.db.pool)
                .await?;
        let Some(contact) = contact else { continue };
        let (a, secret) = accounts::invite(&st.db, &actor, now, customer, Some(contact), i == 0).await?;
        accounts::set_password_by_link(&st.db, now, &secret, accounts::Purpose::Invite, PASSWORD).await?;
        first.get_or_insert(a.email);
    }
    Ok(first)
}

/// A few pre-sales requests in various statuses on the demo partners' eligible opportunities
/// (none when there is no partner user yet, or when requests already exist).
async fn presales(st: &AppState, engineer: i64) -> Result<()> {
    use crate::presales::store::{self, By, RequestInput, SlotInput, Step};
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM presales_requests").fetch_one(&st.db.pool).await?;
    if existing > 0 {
        return Ok(());
    }
    // The eligible opportunities, with a partner user who follows opportunities.
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "SELECT po.id, po.partner_id, u.id, u.name FROM partner_opportunities po \
         JOIN value_list_items v ON v.list_code = 'partner_opportunity_type' AND v.code = po.opportunity_type \
         JOIN partner_users u ON u.id = (SELECT MIN(x.id) FROM partner_users x WHERE x.partner_id = po.partner_id AND x.status = 'active' AND x.can_opportunities = 1) \
         WHERE (' ' || v.flags || ' ') LIKE '% presales %' ORDER BY po.id LIMIT 6",
    )
    .fetch_all(&st.db.pool)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let team = By::Staff {
        user_id: engineer,
        presales: true,
        all_teams: false,
        actor: Actor { id: Some(engineer), name: "Thomas Pelletier".into(), request_id: None },
    };
    let zone = crate::settings::zone(&st.db).await?;
    let now = st.now();
    let day = 86_400_000;
    let start = zone.day_start(now) + 9 * 3_600_000;
    let slots = |from: i64, n: i64| -> Vec<SlotInput> {
        (0..n)
            .map(|i| SlotInput { engineer_id: None, start_at: start + (from + i) * day, end_at: start + (from + i) * day + 2 * 3_600_000 })
            .collect()
    };
    let steps: [(&str, &str, Vec<Step>); 6] = [
        ("demo", "Démonstration de la gestion commerciale et des achats pour 15 utilisateurs.", vec![Step::Submit { confirmed: true }]),
        (
            "atelier",
            "Atelier de découverte des besoins logistiques (deux entrepôts).",
            vec![Step::Submit { confirmed: true }, Step::Accept],
        ),
        ("demo", "Démonstration CRM et portail client.", vec![Step::Submit { confirmed: true }, Step::Accept, Step::Propose(slots(7, 3))]),
        (
            "cadrage",
            "Cadrage du projet de migration depuis l'ancien ERP.",
            vec![Step::Submit { confirmed: true }, Step::Accept, Step::Propose(slots(10, 2)), Step::PickSlot(0)],
        ),
        (
            "demo",
            "Démonstration de la production (ordres de fabrication).",
            vec![
                Step::Submit { confirmed: true },
                Step::Accept,
                Step::AskInfo("Quels modules le client utilise-t-il aujourd'hui ?".into()),
            ],
        ),
        (
            "soutenance",
            "Soutenance de l'offre devant le comité de direction.",
            vec![Step::Submit { confirmed: true }, Step::Refuse("Le client est hors de notre zone d'intervention.".into())],
        ),
    ];
    for ((kind, description, steps), (opp, partner, user, name)) in steps.into_iter().zip(rows.iter().cycle()) {
        let partner_side = By::Partner {
            partner_id: *partner,
            user_id: *user,
            can_opportunities: true,
            is_admin: false,
            actor: Actor { id: None, name: name.clone(), request_id: None },
        };
        let input = RequestInput {
            partner_opportunity_id: *opp,
            description: description.into(),
            intervention_type: kind.into(),
            on_site: kind != "atelier",
            place: (kind != "atelier").then(|| "Chez le client".to_string()),
            desired_date: Some(zone.date(now + 14 * day)),
            preferred_engineer_id: Some(engineer),
        };
        let r = store::create(&st.db, &partner_side, now, &input).await?;
        for step in steps {
            let (by, step) = match step {
                Step::PickSlot(_) => {
                    let first = store::slots(&st.db, r.id).await?.into_iter().next().map(|s| s.id).unwrap_or_default();
                    (&partner_side, Step::PickSlot(first))
                }
                s @ (Step::Submit { .. } | Step::AskOtherDates(_) | Step::AnswerInfo(_)) => (&partner_side, s),
                s => (&team, s),
            };
            store::act(&st.db, by, now, zone, r.id, step).await?;
        }
    }
    Ok(())
}

/// Two resellers followed by the channel manager, each with users (the first an
/// administrator with the right "Opportunités"), a few opportunities (one "Primo", eligible
/// for pre-sales), and two news items (one for every partner, one for the first only).
/// Returns the first partner user's address.
async fn partners(st: &AppState, unit: i64, channel_manager: i64) -> Result<Option<String>> {
    use crate::partners::accounts::{self, Invitation};
    use crate::partners::news::{self, NewsInput};
    use crate::partners::store::{self, OpportunityForm, PartnerForm};
    let existing: Option<String> =
        sqlx::query_scalar("SELECT email FROM partner_users ORDER BY id LIMIT 1").fetch_optional(&st.db.pool).await?;
    if existing.is_some() {
        return Ok(existing);
    }
    let actor = Actor { id: Some(channel_manager), name: "Inès Lefebvre".into(), request_id: None };
    let now = st.now();
    /// (name, email, partner administrator, right "Opportunités")
    type Person = (&'static str, &'static str, bool, bool);
    const ORGS: &[(&str, &str, &[Person])] = &[
        (
            "Infogest Conseil",
            "contact@infogest.example",
            &[
                ("Paul Martin", "paul.martin@infogest.example", true, true),
                ("Claire Dubois", "claire.dubois@infogest.example", false, true),
            ],
        ),
        ("Solutions Boréal", "info@boreal.example", &[("Antoine Roussel", "antoine.roussel@boreal.example", true, true)]),
    ];
    let mut first = None;
    let mut partner_ids = Vec::new();
    for (name, email, people) in ORGS {
        let form = PartnerForm {
            name: (*name).into(),
            unit_id: unit.to_string(),
            owner_id: channel_manager.to_string(),
            email: (*email).into(),
            phone: "+1 514 555 0100".into(),
            active: Some("on".into()),
            admin_invites: Some("on".into()),
        };
        let p = store::create_partner(&st.db, &actor, now, &form.parse()?).await?;
        partner_ids.push(p.id);
        for (pname, pemail, admin, opps) in *people {
            let inv = Invitation {
                email: crate::identity::Email::parse(pemail).map_err(|r| crate::error::Error::validation("email", r))?,
                name: (*pname).into(),
                language: crate::i18n::Lang::Fr,
                is_admin: *admin,
                can_opportunities: *opps,
            };
            let (a, secret) = accounts::invite(&st.db, &actor, now, p.id, &inv).await?;
            accounts::set_password_by_link(&st.db, now, &secret, crate::portal::accounts::Purpose::Invite, PASSWORD).await?;
            first.get_or_insert(a.email);
        }
    }
    // Their opportunities, created as their first user would.
    const OPPS: &[(usize, &str, &str, &str, &str, &str, &str)] = &[
        (0, "Menuiserie Giraud", "Julien Giraud", "julien@giraud.example", "ERP Divalto infinity", "primo", "48000"),
        (0, "Transports Morel", "Sandrine Morel", "s.morel@morel.example", "Module logistique", "extension", "12500"),
        (0, "Cave des Coteaux", "Marc Vidal", "marc@coteaux.example", "Renouvellement maintenance", "renouvellement", "6200"),
        (1, "Boulangeries Lemaire", "Anne Lemaire", "anne@lemaire.example", "ERP et CRM", "primo", "75000"),
    ];
    for (i, (org, customer, contact, cemail, product, kind, amount)) in OPPS.iter().enumerate() {
        let Some(pid) = partner_ids.get(*org) else { continue };
        let uid: i64 = sqlx::query_scalar("SELECT id FROM partner_users WHERE partner_id = $1 ORDER BY id LIMIT 1")
            .bind(*pid)
            .fetch_one(&st.db.pool)
            .await?;
        let Some(u) = partner_user(st, uid).await? else { continue };
        let form = OpportunityForm {
            customer_name: Some((*customer).into()),
            contact_name: Some((*contact).into()),
            contact_email: Some((*cemail).into()),
            contact_phone: Some("+33 4 72 00 00 0".to_string() + &i.to_string()),
            product_interest: Some((*product).into()),
            amount: Some((*amount).into()),
            expected_close_date: Some(format!("2027-0{}-15", i + 2)),
            opportunity_type: Some((*kind).into()),
            status: None,
            description: Some(format!("{product} pour {customer}.")),
        };
        store::create_opportunity(&st.db, &u, &u.actor("demo"), now, &form.parse()?).await?;
    }
    let day = 86_400_000;
    let all = NewsInput::parse(
        "Divalto infinity 2027 : les nouveautés",
        "La nouvelle version arrive en mars : tableaux de bord, CRM mobile et facturation électronique.",
        "La version 2027 apporte :\n\n- des **tableaux de bord** personnalisables ;\n- le CRM mobile hors connexion ;\n- la facturation électronique.\n\nInscrivez-vous au webinaire partenaires : [programme](https://www.example.com/webinaire).",
        Some(now - 3 * day),
        "all",
        Vec::new(),
    )?;
    news::create(&st.db, &actor, now, &all).await?;
    if let Some(first_partner) = partner_ids.first() {
        let some = NewsInput::parse(
            "Programme de certification avant-vente",
            "Deux sessions de certification sont ouvertes à vos consultants avant-vente.",
            "Deux sessions ont lieu ce trimestre, à Lyon et à distance.\n\nDemandez l'inscription de vos consultants à votre responsable partenaire.",
            Some(now - day),
            "some",
            vec![*first_partner],
        )?;
        news::create(&st.db, &actor, now, &some).await?;
    }
    Ok(first)
}

/// The partner user `id` as if logged in (for the demo's opportunities).
async fn partner_user(st: &AppState, id: i64) -> Result<Option<crate::partners::PartnerUser>> {
    let row: Option<(i64, String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT a.partner_id, p.name, a.name, a.email, a.is_admin, a.can_opportunities FROM partner_users a \
         JOIN partners p ON p.id = a.partner_id WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(&st.db.pool)
    .await?;
    Ok(row.map(|(partner_id, partner_name, name, email, is_admin, can_opportunities)| crate::partners::PartnerUser {
        user_id: id,
        partner_id,
        partner_name,
        name,
        email,
        language: crate::i18n::Lang::Fr,
        is_admin: is_admin != 0,
        can_opportunities: can_opportunities != 0,
        admin_invites: true,
        csrf_token: String::new(),
        session_hash: String::new(),
        zone: crate::clock::Zone::default(),
    }))
}
