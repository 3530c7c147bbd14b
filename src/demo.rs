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
    let _ = r4;
    Ok(DemoLogin { email: ADMIN_EMAIL, password: PASSWORD })
}
