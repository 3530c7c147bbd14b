//! Email templates: one per event and language (subject, text body, HTML body), with
//! variables (`{{ user.name }}`). Defaults live here; administrators override them (stored
//! in `email_templates`) and preview them with sample data. HTML bodies escape variables;
//! subjects lose any line break, so no variable can add a header.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{json, Value};

use crate::access::Actor;
use crate::audit;
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result};
use crate::i18n::Lang;

/// An event that sends email. `required` notifications cannot be turned off by users.
pub struct EventDef {
    pub code: &'static str,
    pub required: bool,
    pub sample: fn() -> Value,
    pub fr: (&'static str, &'static str, &'static str),
    pub en: (&'static str, &'static str, &'static str),
}

fn sample_user() -> Value {
    json!({"user": {"name": "Julie Roy", "email": "julie.roy@example.fr"}, "app_url": "https://carnet.example.com", "app_name": "Carnet",
           "actor": {"name": "Sophie Gagnon"}, "role": "Représentant", "at": "2026-11-23 09:00"})
}

fn sample_sales() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "actor": {"name": "Sophie Gagnon"},
           "opportunity": {"id": 42, "name": "Hélène Tremblay", "customer": "Hélène Tremblay"},
           "lead": {"summary": "Lead internet (site web) — Hélène Tremblay · helene@example.fr", "message": "Est-il encore disponible ?"},
           "call": {"subject": "Rappeler pour l'essai routier", "due": "2026-11-24 10:30", "notes": ""},
           "customer": {"name": "Hélène Tremblay"},
           "meeting": {"id": 7, "subject": "HÉLÈNE / A1234", "start": "2026-11-24 10:30", "end": "11:30", "location": "Succursale Laval",
                       "priority": "or", "category": "rendez_vous", "kind": "stock", "appointment_type": null, "branch": "Laval",
                       "language": "fr", "deposit_method": null, "esign_status": null, "transfer": false, "status": "planifie",
                       "description": "Essai routier", "stock": "A1234 Civic 2024", "rep": "Julie Roy", "participants": "Hélène Tremblay, Julie Roy"}})
}

fn sample_service() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "actor": {"name": "Camille Fortin"},
           "customer": {"name": "Julie Roy"},
           "request": {"id": 12, "number": "DEM-2026-000123", "status": "planifie", "status_label": "Planifié"},
           "update": {"message": "Un technicien passera mardi entre 8 h et 10 h."}})
}

fn sample_request_call() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "customer": {"name": "Julie Roy"},
           "request": {"id": 12, "number": "DEM-2026-000123"},
           "call": {"subject": "Confirmer le passage du technicien", "due": "2026-11-24 10:30", "notes": ""}})
}

fn sample_message() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "actor": {"name": "Camille Fortin"},
           "customer": {"name": "Julie Roy"}, "request": {"id": 12, "number": "DEM-2026-000123"},
           "message": {"author": "Camille Fortin", "body": "Pouvez-vous nous envoyer une photo de la plaque signalétique ?"}})
}

fn sample_sla() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "customer": {"name": "Julie Roy"},
           "request": {"id": 12, "number": "DEM-2026-000123", "priority": "haute"}, "target": "first_update", "due": "2026-12-07 09:30"})
}

fn sample_partner() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "actor": {"name": "Camille Fortin"},
           "account": {"name": "Julie Roy", "email": "julie.roy@revendeur.example"}, "partner": {"name": "Infogest Conseil"},
           "link_path": "/partner/welcome/exemple", "valid_hours": 168})
}

fn sample_portal() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "actor": {"name": "Camille Fortin"},
           "account": {"name": "Julie Roy", "email": "julie.roy@example.fr"}, "customer": {"name": "Boulangerie Martin"},
           "link_path": "/portal/welcome/exemple", "valid_hours": 168,
           "request": {"id": 12, "number": "DEM-2026-000123", "description": "Le four ne chauffe plus (Julie Roy)."}})
}

fn sample_presales() -> Value {
    json!({"app_url": "https://carnet.example.com", "app_name": "Carnet", "actor": {"name": "Julie Roy"},
           "request": {"id": 12, "number": "AV-2026-000012", "customer": "Julie Roy", "partner": "Revendeur Ouest",
                       "status_fr": "Planifiée", "status_en": "Scheduled", "reason": null, "description": "Démonstration de la gestion commerciale"},
           "step": {"fr": "L'équipe avant-vente propose des créneaux", "en": "The pre-sales team proposes slots"},
           "message": "2026-12-08 09:00 – 11:00", "link_path": "/partner/presales/12",
           "slot": {"when": "2026-12-08 09:00 – 11:00", "cancelled": false}})
}

const MEETING_TEXT_FR: &str = "Rendez-vous : {{ meeting.subject }}\nQuand : {{ meeting.start }} – {{ meeting.end }}\nOù : {{ meeting.location or '—' }}\nClient : {{ customer.name }}\nPriorité : {{ meeting.priority }} · Catégorie : {{ meeting.category }} · Statut : {{ meeting.status }}\nSuccursale : {{ meeting.branch or '—' }} · Langue : {{ meeting.language }}\nStock : {{ meeting.stock or '—' }}\nDépôt : {{ meeting.deposit_method or '—' }} · Signature électronique : {{ meeting.esign_status or '—' }} · Transfert : {% if meeting.transfer %}oui{% else %}non{% endif %}\nType de rendez-vous : {{ meeting.appointment_type or '—' }}\nReprésentant : {{ meeting.rep or '—' }}\nParticipants : {{ meeting.participants }}\n\n{{ meeting.description }}\n\n{{ app_url }}/meetings/{{ meeting.id }}\n";
const MEETING_TEXT_EN: &str = "Appointment: {{ meeting.subject }}\nWhen: {{ meeting.start }} – {{ meeting.end }}\nWhere: {{ meeting.location or '—' }}\nCustomer: {{ customer.name }}\nPriority: {{ meeting.priority }} · Category: {{ meeting.category }} · Status: {{ meeting.status }}\nBranch: {{ meeting.branch or '—' }} · Language: {{ meeting.language }}\nStock: {{ meeting.stock or '—' }}\nDeposit: {{ meeting.deposit_method or '—' }} · E-signature: {{ meeting.esign_status or '—' }} · Transfer: {% if meeting.transfer %}yes{% else %}no{% endif %}\nAppointment type: {{ meeting.appointment_type or '—' }}\nRep: {{ meeting.rep or '—' }}\nParticipants: {{ meeting.participants }}\n\n{{ meeting.description }}\n\n{{ app_url }}/meetings/{{ meeting.id }}\n";
const MEETING_HTML_FR: &str = "<h2>{{ meeting.subject }}</h2><table><tr><th align=left>Quand</th><td>{{ meeting.start }} – {{ meeting.end }}</td></tr><tr><th align=left>Où</th><td>{{ meeting.location or '—' }}</td></tr><tr><th align=left>Client</th><td>{{ customer.name }}</td></tr><tr><th align=left>Priorité</th><td>{{ meeting.priority }}</td></tr><tr><th align=left>Catégorie</th><td>{{ meeting.category }}</td></tr><tr><th align=left>Statut</th><td>{{ meeting.status }}</td></tr><tr><th align=left>Succursale</th><td>{{ meeting.branch or '—' }}</td></tr><tr><th align=left>Langue</th><td>{{ meeting.language }}</td></tr><tr><th align=left>Stock</th><td>{{ meeting.stock or '—' }}</td></tr><tr><th align=left>Dépôt</th><td>{{ meeting.deposit_method or '—' }}</td></tr><tr><th align=left>Signature électronique</th><td>{{ meeting.esign_status or '—' }}</td></tr><tr><th align=left>Transfert</th><td>{% if meeting.transfer %}oui{% else %}non{% endif %}</td></tr><tr><th align=left>Type de rendez-vous</th><td>{{ meeting.appointment_type or '—' }}</td></tr><tr><th align=left>Représentant</th><td>{{ meeting.rep or '—' }}</td></tr><tr><th align=left>Participants</th><td>{{ meeting.participants }}</td></tr></table><p>{{ meeting.description }}</p><p><a href=\"{{ app_url }}/meetings/{{ meeting.id }}\">Ouvrir dans {{ app_name }}</a></p>";
const MEETING_HTML_EN: &str = "<h2>{{ meeting.subject }}</h2><table><tr><th align=left>When</th><td>{{ meeting.start }} – {{ meeting.end }}</td></tr><tr><th align=left>Where</th><td>{{ meeting.location or '—' }}</td></tr><tr><th align=left>Customer</th><td>{{ customer.name }}</td></tr><tr><th align=left>Priority</th><td>{{ meeting.priority }}</td></tr><tr><th align=left>Category</th><td>{{ meeting.category }}</td></tr><tr><th align=left>Status</th><td>{{ meeting.status }}</td></tr><tr><th align=left>Branch</th><td>{{ meeting.branch or '—' }}</td></tr><tr><th align=left>Language</th><td>{{ meeting.language }}</td></tr><tr><th align=left>Stock</th><td>{{ meeting.stock or '—' }}</td></tr><tr><th align=left>Deposit</th><td>{{ meeting.deposit_method or '—' }}</td></tr><tr><th align=left>E-signature</th><td>{{ meeting.esign_status or '—' }}</td></tr><tr><th align=left>Transfer</th><td>{% if meeting.transfer %}yes{% else %}no{% endif %}</td></tr><tr><th align=left>Appointment type</th><td>{{ meeting.appointment_type or '—' }}</td></tr><tr><th align=left>Rep</th><td>{{ meeting.rep or '—' }}</td></tr><tr><th align=left>Participants</th><td>{{ meeting.participants }}</td></tr></table><p>{{ meeting.description }}</p><p><a href=\"{{ app_url }}/meetings/{{ meeting.id }}\">Open in {{ app_name }}</a></p>";

/// Every event that sends email. Modules add theirs here.
pub fn events() -> &'static [EventDef] {
    &[
        EventDef {
            code: "test_email",
            required: true,
            sample: sample_user,
            fr: (
                "Courriel de test de {{ app_name }}",
                "Bonjour {{ user.name }},\n\nCeci est un courriel de test envoyé depuis {{ app_name }} ({{ app_url }}).\nSi vous le lisez, l'envoi fonctionne.\n",
                "<p>Bonjour {{ user.name }},</p><p>Ceci est un courriel de test envoyé depuis <a href=\"{{ app_url }}\">{{ app_name }}</a>.</p><p>Si vous le lisez, l'envoi fonctionne.</p>",
            ),
            en: (
                "Test email from {{ app_name }}",
                "Hello {{ user.name }},\n\nThis is a test email sent from {{ app_name }} ({{ app_url }}).\nIf you can read it, sending works.\n",
                "<p>Hello {{ user.name }},</p><p>This is a test email sent from <a href=\"{{ app_url }}\">{{ app_name }}</a>.</p><p>If you can read it, sending works.</p>",
            ),
        },
        EventDef {
            code: "account_created",
            required: true,
            sample: sample_user,
            fr: (
                "Votre compte {{ app_name }}",
                "Bonjour {{ user.name }},\n\n{{ actor.name }} vous a créé un compte {{ app_name }}.\nConnectez-vous sur {{ app_url }} avec l'adresse {{ user.email }}.\nSi vous n'avez pas encore de mot de passe, demandez-le à votre administrateur.\n",
                "<p>Bonjour {{ user.name }},</p><p>{{ actor.name }} vous a créé un compte {{ app_name }}.</p><p>Connectez-vous sur <a href=\"{{ app_url }}\">{{ app_url }}</a> avec l'adresse <strong>{{ user.email }}</strong>.</p><p>Si vous n'avez pas encore de mot de passe, demandez-le à votre administrateur.</p>",
            ),
            en: (
                "Your {{ app_name }} account",
                "Hello {{ user.name }},\n\n{{ actor.name }} created a {{ app_name }} account for you.\nLog in at {{ app_url }} with the address {{ user.email }}.\nIf you have no password yet, ask your administrator.\n",
                "<p>Hello {{ user.name }},</p><p>{{ actor.name }} created a {{ app_name }} account for you.</p><p>Log in at <a href=\"{{ app_url }}\">{{ app_url }}</a> with the address <strong>{{ user.email }}</strong>.</p><p>If you have no password yet, ask your administrator.</p>",
            ),
        },
        EventDef {
            code: "password_changed",
            required: true,
            sample: sample_user,
            fr: (
                "Votre mot de passe {{ app_name }} a été changé",
                "Bonjour {{ user.name }},\n\nLe mot de passe de votre compte {{ app_name }} a été changé le {{ at }} (UTC) par {{ actor.name }}.\nSi ce n'est pas vous, prévenez immédiatement votre administrateur.\n",
                "<p>Bonjour {{ user.name }},</p><p>Le mot de passe de votre compte {{ app_name }} a été changé le {{ at }} (UTC) par {{ actor.name }}.</p><p><strong>Si ce n'est pas vous, prévenez immédiatement votre administrateur.</strong></p>",
            ),
            en: (
                "Your {{ app_name }} password was changed",
                "Hello {{ user.name }},\n\nThe password of your {{ app_name }} account was changed on {{ at }} (UTC) by {{ actor.name }}.\nIf this was not you, tell your administrator at once.\n",
                "<p>Hello {{ user.name }},</p><p>The password of your {{ app_name }} account was changed on {{ at }} (UTC) by {{ actor.name }}.</p><p><strong>If this was not you, tell your administrator at once.</strong></p>",
            ),
        },
        EventDef {
            code: "role_changed",
            required: false,
            sample: sample_user,
            fr: (
                "Votre rôle dans {{ app_name }} : {{ role }}",
                "Bonjour {{ user.name }},\n\n{{ actor.name }} vous a attribué le rôle « {{ role }} » dans {{ app_name }}.\nVos droits et ce que vous voyez changent en conséquence.\n",
                "<p>Bonjour {{ user.name }},</p><p>{{ actor.name }} vous a attribué le rôle « {{ role }} » dans {{ app_name }}.</p><p>Vos droits et ce que vous voyez changent en conséquence.</p>",
            ),
            en: (
                "Your role in {{ app_name }}: {{ role }}",
                "Hello {{ user.name }},\n\n{{ actor.name }} gave you the role \"{{ role }}\" in {{ app_name }}.\nYour rights and what you see change accordingly.\n",
                "<p>Hello {{ user.name }},</p><p>{{ actor.name }} gave you the role “{{ role }}” in {{ app_name }}.</p><p>Your rights and what you see change accordingly.</p>",
            ),
        },
        EventDef {
            code: "request_update",
            required: true,
            sample: sample_service,
            fr: (
                "Votre demande {{ request.number }} : {{ request.status_label }}",
                "Bonjour {{ customer.name }},\n\nVotre demande {{ request.number }} est maintenant : {{ request.status_label }}.\n\n{{ update.message }}\n\n{{ actor.name }}\n",
                "<p>Bonjour {{ customer.name }},</p><p>Votre demande <strong>{{ request.number }}</strong> est maintenant : <strong>{{ request.status_label }}</strong>.</p><blockquote>{{ update.message }}</blockquote><p>{{ actor.name }}</p>",
            ),
            en: (
                "Your request {{ request.number }}: {{ request.status_label }}",
                "Hello {{ customer.name }},\n\nYour request {{ request.number }} is now: {{ request.status_label }}.\n\n{{ update.message }}\n\n{{ actor.name }}\n",
                "<p>Hello {{ customer.name }},</p><p>Your request <strong>{{ request.number }}</strong> is now: <strong>{{ request.status_label }}</strong>.</p><blockquote>{{ update.message }}</blockquote><p>{{ actor.name }}</p>",
            ),
        },
        EventDef {
            code: "opportunity_assigned",
            required: false,
            sample: sample_sales,
            fr: (
                "Opportunité assignée : {{ opportunity.name }}",
                "Bonjour,\n\n{{ actor.name }} vous a assigné l'opportunité « {{ opportunity.name }} » ({{ opportunity.customer }}).\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Bonjour,</p><p>{{ actor.name }} vous a assigné l'opportunité « {{ opportunity.name }} » ({{ opportunity.customer }}).</p><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Ouvrir l'opportunité</a></p>",
            ),
            en: (
                "Opportunity assigned: {{ opportunity.name }}",
                "Hello,\n\n{{ actor.name }} assigned you the opportunity \"{{ opportunity.name }}\" ({{ opportunity.customer }}).\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Hello,</p><p>{{ actor.name }} assigned you the opportunity “{{ opportunity.name }}” ({{ opportunity.customer }}).</p><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Open the opportunity</a></p>",
            ),
        },
        EventDef {
            code: "lead_queued",
            required: false,
            sample: sample_sales,
            fr: (
                "Nouveau lead à prendre : {{ opportunity.name }}",
                "Bonjour,\n\nUn nouveau lead attend d'être pris en charge (« {{ opportunity.name }} ») :\n\n{{ lead.summary }}\n\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Bonjour,</p><p>Un nouveau lead attend d'être pris en charge (« {{ opportunity.name }} ») :</p><blockquote>{{ lead.summary }}</blockquote><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Ouvrir l'opportunité</a></p>",
            ),
            en: (
                "New lead to take: {{ opportunity.name }}",
                "Hello,\n\nA new lead is waiting to be taken (\"{{ opportunity.name }}\"):\n\n{{ lead.summary }}\n\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Hello,</p><p>A new lead is waiting to be taken (“{{ opportunity.name }}”):</p><blockquote>{{ lead.summary }}</blockquote><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Open the opportunity</a></p>",
            ),
        },
        EventDef {
            code: "lead_merged",
            required: false,
            sample: sample_sales,
            fr: (
                "Nouveau lead sur {{ opportunity.name }}",
                "Bonjour,\n\nUn nouveau lead a été ajouté à votre opportunité « {{ opportunity.name }} » :\n\n{{ lead.summary }}\n\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Bonjour,</p><p>Un nouveau lead a été ajouté à votre opportunité « {{ opportunity.name }} » :</p><blockquote>{{ lead.summary }}</blockquote><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Ouvrir l'opportunité</a></p>",
            ),
            en: (
                "New lead on {{ opportunity.name }}",
                "Hello,\n\nA new lead was added to your opportunity \"{{ opportunity.name }}\":\n\n{{ lead.summary }}\n\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Hello,</p><p>A new lead was added to your opportunity “{{ opportunity.name }}”:</p><blockquote>{{ lead.summary }}</blockquote><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Open the opportunity</a></p>",
            ),
        },
        EventDef {
            code: "call_reminder",
            required: false,
            sample: sample_sales,
            fr: (
                "Rappel : appel à {{ call.due }} — {{ call.subject }}",
                "Bonjour,\n\nAppel prévu le {{ call.due }} : {{ call.subject }}\nOpportunité : {{ opportunity.name }}\n{{ call.notes }}\n\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Bonjour,</p><p>Appel prévu le <strong>{{ call.due }}</strong> : {{ call.subject }}</p><p>Opportunité : {{ opportunity.name }}</p><p>{{ call.notes }}</p><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Ouvrir l'opportunité</a></p>",
            ),
            en: (
                "Reminder: call at {{ call.due }} — {{ call.subject }}",
                "Hello,\n\nCall planned on {{ call.due }}: {{ call.subject }}\nOpportunity: {{ opportunity.name }}\n{{ call.notes }}\n\n{{ app_url }}/opportunities/{{ opportunity.id }}\n",
                "<p>Hello,</p><p>Call planned on <strong>{{ call.due }}</strong>: {{ call.subject }}</p><p>Opportunity: {{ opportunity.name }}</p><p>{{ call.notes }}</p><p><a href=\"{{ app_url }}/opportunities/{{ opportunity.id }}\">Open the opportunity</a></p>",
            ),
        },
        EventDef {
            code: "request_call_reminder",
            required: false,
            sample: sample_request_call,
            fr: (
                "Rappel : appel à {{ call.due }} — {{ call.subject }}",
                "Bonjour,\n\nAppel prévu le {{ call.due }} : {{ call.subject }}\nDemande : {{ request.number }} ({{ customer.name }})\n{{ call.notes }}\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Bonjour,</p><p>Appel prévu le <strong>{{ call.due }}</strong> : {{ call.subject }}</p><p>Demande : {{ request.number }} ({{ customer.name }})</p><p>{{ call.notes }}</p><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Ouvrir la demande</a></p>",
            ),
            en: (
                "Reminder: call at {{ call.due }} — {{ call.subject }}",
                "Hello,\n\nCall planned on {{ call.due }}: {{ call.subject }}\nRequest: {{ request.number }} ({{ customer.name }})\n{{ call.notes }}\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Hello,</p><p>Call planned on <strong>{{ call.due }}</strong>: {{ call.subject }}</p><p>Request: {{ request.number }} ({{ customer.name }})</p><p>{{ call.notes }}</p><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Open the request</a></p>",
            ),
        },
        EventDef {
            code: "meeting_confirmation",
            required: true,
            sample: sample_sales,
            fr: ("Rendez-vous confirmé : {{ meeting.subject }} — {{ meeting.start }}", MEETING_TEXT_FR, MEETING_HTML_FR),
            en: ("Appointment confirmed: {{ meeting.subject }} — {{ meeting.start }}", MEETING_TEXT_EN, MEETING_HTML_EN),
        },
        EventDef {
            code: "meeting_updated",
            required: true,
            sample: sample_sales,
            fr: ("Rendez-vous modifié : {{ meeting.subject }} — {{ meeting.start }}", MEETING_TEXT_FR, MEETING_HTML_FR),
            en: ("Appointment changed: {{ meeting.subject }} — {{ meeting.start }}", MEETING_TEXT_EN, MEETING_HTML_EN),
        },
        EventDef {
            code: "meeting_cancelled",
            required: true,
            sample: sample_sales,
            fr: ("Rendez-vous annulé : {{ meeting.subject }} — {{ meeting.start }}", MEETING_TEXT_FR, MEETING_HTML_FR),
            en: ("Appointment cancelled: {{ meeting.subject }} — {{ meeting.start }}", MEETING_TEXT_EN, MEETING_HTML_EN),
        },
        EventDef {
            code: "presales_step",
            required: true,
            sample: sample_presales,
            fr: (
                "Demande avant-vente {{ request.number }} : {{ step.fr }}",
                "Bonjour,\n\n{{ step.fr }} ({{ actor.name }}).\nDemande {{ request.number }} — {{ request.customer }} ({{ request.partner }})\nStatut : {{ request.status_fr }}\n{% if message %}\n{{ message }}\n{% endif %}\nOuvrir la demande : {{ app_url }}{{ link_path }}\n",
                "<p>Bonjour,</p><p>{{ step.fr }} ({{ actor.name }}).</p><p>Demande <strong>{{ request.number }}</strong> — {{ request.customer }} ({{ request.partner }})<br>Statut : {{ request.status_fr }}</p>{% if message %}<blockquote>{{ message }}</blockquote>{% endif %}<p><a href=\"{{ app_url }}{{ link_path }}\">Ouvrir la demande</a></p>",
            ),
            en: (
                "Pre-sales request {{ request.number }}: {{ step.en }}",
                "Hello,\n\n{{ step.en }} ({{ actor.name }}).\nRequest {{ request.number }} — {{ request.customer }} ({{ request.partner }})\nStatus: {{ request.status_en }}\n{% if message %}\n{{ message }}\n{% endif %}\nOpen the request: {{ app_url }}{{ link_path }}\n",
                "<p>Hello,</p><p>{{ step.en }} ({{ actor.name }}).</p><p>Request <strong>{{ request.number }}</strong> — {{ request.customer }} ({{ request.partner }})<br>Status: {{ request.status_en }}</p>{% if message %}<blockquote>{{ message }}</blockquote>{% endif %}<p><a href=\"{{ app_url }}{{ link_path }}\">Open the request</a></p>",
            ),
        },
        EventDef {
            code: "presales_invitation",
            required: true,
            sample: sample_presales,
            fr: (
                "{% if slot.cancelled %}Annulé{% else %}Invitation{% endif %} : avant-vente {{ request.number }} le {{ slot.when }}",
                "Bonjour,\n\n{% if slot.cancelled %}Le créneau avant-vente du {{ slot.when }} est annulé.{% else %}Le créneau avant-vente est confirmé : {{ slot.when }}.{% endif %}\nDemande {{ request.number }} — {{ request.customer }} ({{ request.partner }})\nL'invitation est jointe pour votre agenda.\n\nOuvrir la demande : {{ app_url }}{{ link_path }}\n",
                "<p>Bonjour,</p><p>{% if slot.cancelled %}Le créneau avant-vente du <strong>{{ slot.when }}</strong> est annulé.{% else %}Le créneau avant-vente est confirmé : <strong>{{ slot.when }}</strong>.{% endif %}</p><p>Demande {{ request.number }} — {{ request.customer }} ({{ request.partner }})</p><p>L'invitation est jointe pour votre agenda.</p><p><a href=\"{{ app_url }}{{ link_path }}\">Ouvrir la demande</a></p>",
            ),
            en: (
                "{% if slot.cancelled %}Cancelled{% else %}Invitation{% endif %}: pre-sales {{ request.number }} on {{ slot.when }}",
                "Hello,\n\n{% if slot.cancelled %}The pre-sales slot of {{ slot.when }} is cancelled.{% else %}The pre-sales slot is confirmed: {{ slot.when }}.{% endif %}\nRequest {{ request.number }} — {{ request.customer }} ({{ request.partner }})\nThe invitation is attached for your calendar.\n\nOpen the request: {{ app_url }}{{ link_path }}\n",
                "<p>Hello,</p><p>{% if slot.cancelled %}The pre-sales slot of <strong>{{ slot.when }}</strong> is cancelled.{% else %}The pre-sales slot is confirmed: <strong>{{ slot.when }}</strong>.{% endif %}</p><p>Request {{ request.number }} — {{ request.customer }} ({{ request.partner }})</p><p>The invitation is attached for your calendar.</p><p><a href=\"{{ app_url }}{{ link_path }}\">Open the request</a></p>",
            ),
        },
        EventDef {
            code: "request_message",
            required: true,
            sample: sample_message,
            fr: (
                "Message sur votre demande {{ request.number }}",
                "Bonjour {{ customer.name }},\n\n{{ message.author }} vous écrit au sujet de votre demande {{ request.number }} :\n\n{{ message.body }}\n\nRépondez simplement à ce courriel : votre réponse rejoindra la demande.\n",
                "<p>Bonjour {{ customer.name }},</p><p>{{ message.author }} vous écrit au sujet de votre demande <strong>{{ request.number }}</strong> :</p><blockquote>{{ message.body }}</blockquote><p>Répondez simplement à ce courriel : votre réponse rejoindra la demande.</p>",
            ),
            en: (
                "Message about your request {{ request.number }}",
                "Hello {{ customer.name }},\n\n{{ message.author }} writes about your request {{ request.number }}:\n\n{{ message.body }}\n\nJust reply to this email: your answer joins the request.\n",
                "<p>Hello {{ customer.name }},</p><p>{{ message.author }} writes about your request <strong>{{ request.number }}</strong>:</p><blockquote>{{ message.body }}</blockquote><p>Just reply to this email: your answer joins the request.</p>",
            ),
        },
        EventDef {
            code: "request_message_received",
            required: false,
            sample: sample_message,
            fr: (
                "Nouveau message du client : {{ request.number }} ({{ customer.name }})",
                "Bonjour,\n\n{{ message.author }} ({{ customer.name }}) a écrit sur la demande {{ request.number }} :\n\n{{ message.body }}\n\n{{ app_url }}/service/requests/{{ request.id }}#conversation\n",
                "<p>Bonjour,</p><p>{{ message.author }} a écrit sur la demande <strong>{{ request.number }}</strong> :</p><blockquote>{{ message.body }}</blockquote><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}#conversation\">Ouvrir la conversation</a></p>",
            ),
            en: (
                "New message from the customer: {{ request.number }} ({{ customer.name }})",
                "Hello,\n\n{{ message.author }} ({{ customer.name }}) wrote on request {{ request.number }}:\n\n{{ message.body }}\n\n{{ app_url }}/service/requests/{{ request.id }}#conversation\n",
                "<p>Hello,</p><p>{{ message.author }} wrote on request <strong>{{ request.number }}</strong>:</p><blockquote>{{ message.body }}</blockquote><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}#conversation\">Open the conversation</a></p>",
            ),
        },
        EventDef {
            code: "sla_warning",
            required: false,
            sample: sample_sla,
            fr: (
                "Échéance proche : {{ request.number }} ({{ customer.name }})",
                "Bonjour,\n\nLa demande {{ request.number }} ({{ customer.name }}) arrive à l'échéance de {% if target == \"close\" %}sa clôture{% else %}sa première mise à jour au client{% endif %} : {{ due }}.\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Bonjour,</p><p>La demande <strong>{{ request.number }}</strong> ({{ customer.name }}) arrive à l'échéance de {% if target == \"close\" %}sa clôture{% else %}sa première mise à jour au client{% endif %} : <strong>{{ due }}</strong>.</p><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Ouvrir la demande</a></p>",
            ),
            en: (
                "Due soon: {{ request.number }} ({{ customer.name }})",
                "Hello,\n\nRequest {{ request.number }} ({{ customer.name }}) is close to the due time of its {% if target == \"close\" %}closing{% else %}first customer update{% endif %}: {{ due }}.\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Hello,</p><p>Request <strong>{{ request.number }}</strong> ({{ customer.name }}) is close to the due time of its {% if target == \"close\" %}closing{% else %}first customer update{% endif %}: <strong>{{ due }}</strong>.</p><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Open the request</a></p>",
            ),
        },
        EventDef {
            code: "sla_breached",
            required: false,
            sample: sample_sla,
            fr: (
                "Échéance dépassée : {{ request.number }} ({{ customer.name }})",
                "Bonjour,\n\nLa demande {{ request.number }} ({{ customer.name }}) a dépassé l'échéance de {% if target == \"close\" %}sa clôture{% else %}sa première mise à jour au client{% endif %} ({{ due }}).\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Bonjour,</p><p>La demande <strong>{{ request.number }}</strong> ({{ customer.name }}) a dépassé l'échéance de {% if target == \"close\" %}sa clôture{% else %}sa première mise à jour au client{% endif %} ({{ due }}).</p><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Ouvrir la demande</a></p>",
            ),
            en: (
                "Overdue: {{ request.number }} ({{ customer.name }})",
                "Hello,\n\nRequest {{ request.number }} ({{ customer.name }}) is past the due time of its {% if target == \"close\" %}closing{% else %}first customer update{% endif %} ({{ due }}).\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Hello,</p><p>Request <strong>{{ request.number }}</strong> ({{ customer.name }}) is past the due time of its {% if target == \"close\" %}closing{% else %}first customer update{% endif %} ({{ due }}).</p><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Open the request</a></p>",
            ),
        },
        EventDef {
            code: "portal_invitation",
            required: true,
            sample: sample_portal,
            fr: (
                "Votre accès à l'espace client {{ customer.name }}",
                "Bonjour {{ account.name }},\n\n{{ actor.name }} vous invite à suivre les demandes de {{ customer.name }} dans l'espace client {{ app_name }}.\nChoisissez votre mot de passe ici (lien valable {{ valid_hours }} heures, utilisable une fois) :\n{{ app_url }}{{ link_path }}\n\nVotre identifiant : {{ account.email }}\n",
                "<p>Bonjour {{ account.name }},</p><p>{{ actor.name }} vous invite à suivre les demandes de <strong>{{ customer.name }}</strong> dans l'espace client {{ app_name }}.</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choisir mon mot de passe</a> (lien valable {{ valid_hours }} heures, utilisable une fois)</p><p>Votre identifiant : <strong>{{ account.email }}</strong></p>",
            ),
            en: (
                "Your access to the {{ customer.name }} customer portal",
                "Hello {{ account.name }},\n\n{{ actor.name }} invites you to follow the requests of {{ customer.name }} in the {{ app_name }} customer portal.\nChoose your password here (the link is valid {{ valid_hours }} hours, once):\n{{ app_url }}{{ link_path }}\n\nYour login: {{ account.email }}\n",
                "<p>Hello {{ account.name }},</p><p>{{ actor.name }} invites you to follow the requests of <strong>{{ customer.name }}</strong> in the {{ app_name }} customer portal.</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choose my password</a> (the link is valid {{ valid_hours }} hours, once)</p><p>Your login: <strong>{{ account.email }}</strong></p>",
            ),
        },
        EventDef {
            code: "portal_password_reset",
            required: true,
            sample: sample_portal,
            fr: (
                "Nouveau mot de passe pour l'espace client {{ app_name }}",
                "Bonjour {{ account.name }},\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable {{ valid_hours }} heures, utilisable une fois) :\n{{ app_url }}{{ link_path }}\n\nSi vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n",
                "<p>Bonjour {{ account.name }},</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choisir un nouveau mot de passe</a> (lien valable {{ valid_hours }} heures, utilisable une fois).</p><p>Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.</p>",
            ),
            en: (
                "New password for the {{ app_name }} customer portal",
                "Hello {{ account.name }},\n\nTo choose a new password, open this link (valid {{ valid_hours }} hours, once):\n{{ app_url }}{{ link_path }}\n\nIf you did not ask for it, ignore this message: your password does not change.\n",
                "<p>Hello {{ account.name }},</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choose a new password</a> (the link is valid {{ valid_hours }} hours, once).</p><p>If you did not ask for it, ignore this message: your password does not change.</p>",
            ),
        },
        EventDef {
            code: "partner_invitation",
            required: true,
            sample: sample_partner,
            fr: (
                "Votre accès à l'espace partenaire {{ app_name }} ({{ partner.name }})",
                "Bonjour {{ account.name }},\n\n{{ actor.name }} vous invite dans l'espace partenaire {{ app_name }} pour {{ partner.name }} : vos opportunités, vos demandes avant-vente et nos actualités.\nChoisissez votre mot de passe ici (lien valable {{ valid_hours }} heures, utilisable une fois) :\n{{ app_url }}{{ link_path }}\n\nVotre identifiant : {{ account.email }}\n",
                "<p>Bonjour {{ account.name }},</p><p>{{ actor.name }} vous invite dans l'espace partenaire {{ app_name }} pour <strong>{{ partner.name }}</strong> : vos opportunités, vos demandes avant-vente et nos actualités.</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choisir mon mot de passe</a> (lien valable {{ valid_hours }} heures, utilisable une fois)</p><p>Votre identifiant : <strong>{{ account.email }}</strong></p>",
            ),
            en: (
                "Your access to the {{ app_name }} partner portal ({{ partner.name }})",
                "Hello {{ account.name }},\n\n{{ actor.name }} invites you to the {{ app_name }} partner portal for {{ partner.name }}: your opportunities, your pre-sales requests and our news.\nChoose your password here (the link is valid {{ valid_hours }} hours, once):\n{{ app_url }}{{ link_path }}\n\nYour login: {{ account.email }}\n",
                "<p>Hello {{ account.name }},</p><p>{{ actor.name }} invites you to the {{ app_name }} partner portal for <strong>{{ partner.name }}</strong>: your opportunities, your pre-sales requests and our news.</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choose my password</a> (the link is valid {{ valid_hours }} hours, once)</p><p>Your login: <strong>{{ account.email }}</strong></p>",
            ),
        },
        EventDef {
            code: "partner_password_reset",
            required: true,
            sample: sample_partner,
            fr: (
                "Nouveau mot de passe pour l'espace partenaire {{ app_name }}",
                "Bonjour {{ account.name }},\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable {{ valid_hours }} heures, utilisable une fois) :\n{{ app_url }}{{ link_path }}\n\nSi vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n",
                "<p>Bonjour {{ account.name }},</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choisir un nouveau mot de passe</a> (lien valable {{ valid_hours }} heures, utilisable une fois).</p><p>Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.</p>",
            ),
            en: (
                "New password for the {{ app_name }} partner portal",
                "Hello {{ account.name }},\n\nTo choose a new password, open this link (valid {{ valid_hours }} hours, once):\n{{ app_url }}{{ link_path }}\n\nIf you did not ask for it, ignore this message: your password does not change.\n",
                "<p>Hello {{ account.name }},</p><p><a href=\"{{ app_url }}{{ link_path }}\">Choose a new password</a> (the link is valid {{ valid_hours }} hours, once).</p><p>If you did not ask for it, ignore this message: your password does not change.</p>",
            ),
        },
        EventDef {
            code: "portal_request_created",
            required: false,
            sample: sample_portal,
            fr: (
                "Nouvelle demande de l'espace client : {{ request.number }} ({{ customer.name }})",
                "Bonjour,\n\n{{ actor.name }} ({{ customer.name }}) a ouvert la demande {{ request.number }} dans l'espace client :\n\n{{ request.description }}\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Bonjour,</p><p>{{ actor.name }} ({{ customer.name }}) a ouvert la demande <strong>{{ request.number }}</strong> dans l'espace client :</p><blockquote>{{ request.description }}</blockquote><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Ouvrir la demande</a></p>",
            ),
            en: (
                "New request from the customer portal: {{ request.number }} ({{ customer.name }})",
                "Hello,\n\n{{ actor.name }} ({{ customer.name }}) opened request {{ request.number }} in the customer portal:\n\n{{ request.description }}\n\n{{ app_url }}/service/requests/{{ request.id }}\n",
                "<p>Hello,</p><p>{{ actor.name }} ({{ customer.name }}) opened request <strong>{{ request.number }}</strong> in the customer portal:</p><blockquote>{{ request.description }}</blockquote><p><a href=\"{{ app_url }}/service/requests/{{ request.id }}\">Open the request</a></p>",
            ),
        },
    ]
}

pub fn event(code: &str) -> Option<&'static EventDef> {
    events().iter().find(|e| e.code == code)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub event: String,
    pub lang: Lang,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// Whether an administrator changed it from the default.
    pub customized: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn default_of(def: &EventDef, lang: Lang) -> Template {
    let (s, t, h) = match lang {
        Lang::Fr => def.fr,
        Lang::En => def.en,
    };
    Template { event: def.code.into(), lang, subject: s.into(), text_body: t.into(), html_body: h.into(), customized: false }
}

/// The template for an event and language from an administrator's version read elsewhere
/// (its subject, text and HTML), else the default.
pub fn from_stored(code: &str, lang: Lang, stored: Option<(String, String, String)>) -> Result<Template> {
    let def = event(code).ok_or(Error::NotFound)?;
    Ok(match stored {
        Some((subject, text_body, html_body)) => Template { event: code.into(), lang, subject, text_body, html_body, customized: true },
        None => default_of(def, lang),
    })
}

/// The template for an event and language (the administrator's version, or the default).
pub async fn get(conn: &mut sqlx::AnyConnection, code: &str, lang: Lang) -> Result<Template> {
    let def = event(code).ok_or(Error::NotFound)?;
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT subject, text_body, html_body FROM email_templates WHERE event = $1 AND lang = $2")
            .bind(code)
            .bind(lang.code())
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some((subject, text_body, html_body)) => Template { event: code.into(), lang, subject, text_body, html_body, customized: true },
        None => default_of(def, lang),
    })
}

/// Renders a template with `vars`. A template that does not render is reported with the
/// part concerned (`subject`, `text_body`, `html_body`).
pub fn render(t: &Template, vars: &Value) -> std::result::Result<Rendered, (&'static str, String)> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    let subject = env.render_named_str("subject.txt", &t.subject, vars).map_err(|e| ("subject", e.to_string()))?;
    let text = env.render_named_str("body.txt", &t.text_body, vars).map_err(|e| ("text_body", e.to_string()))?;
    let html = env.render_named_str("body.html", &t.html_body, vars).map_err(|e| ("html_body", e.to_string()))?;
    Ok(Rendered { subject: super::header_safe(&subject), text, html })
}

/// Saves an administrator's version after checking that it renders with the sample data.
/// The three parts of a template as an administrator typed them.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

pub async fn save(db: &Db, actor: &Actor, now: Millis, code: &str, lang: Lang, input: &TemplateInput) -> Result<Template> {
    let def = event(code).ok_or(Error::NotFound)?;
    let mut errs = FieldErrors::new();
    if input.subject.trim().is_empty() {
        errs.add("subject", "error.required");
    }
    if input.text_body.trim().is_empty() {
        errs.add("text_body", "error.required");
    }
    let candidate = Template {
        event: code.into(),
        lang,
        subject: input.subject.trim().into(),
        text_body: input.text_body.clone(),
        html_body: input.html_body.clone(),
        customized: true,
    };
    if let Err((field, _)) = render(&candidate, &(def.sample)()) {
        errs.add(field, "error.template_invalid");
    }
    errs.into_result()?;
    let mut tx = db.begin().await?;
    let old = get(&mut tx, code, lang).await?;
    if old.subject == candidate.subject && old.text_body == candidate.text_body && old.html_body == candidate.html_body {
        // A no-change save writes nothing (a default stays a default).
        tx.rollback().await?;
        return Ok(old);
    }
    sqlx::query("DELETE FROM email_templates WHERE event = $1 AND lang = $2").bind(code).bind(lang.code()).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO email_templates (event, lang, subject, text_body, html_body, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(code)
        .bind(lang.code())
        .bind(&candidate.subject)
        .bind(&candidate.text_body)
        .bind(&candidate.html_body)
        .bind(now)
        .bind(actor.id)
        .execute(&mut *tx)
        .await?;
    let changes: Vec<audit::Change> = [
        ("subject", &old.subject, &candidate.subject),
        ("text_body", &old.text_body, &candidate.text_body),
        ("html_body", &old.html_body, &candidate.html_body),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(p, a, b)| audit::Change { field: format!("{code}.{}.{p}", lang.code()).into(), old: Some(a.clone()), new: Some(b.clone()) })
    .collect();
    if !changes.is_empty() {
        audit::record(&mut tx, actor, now, "email_template", 0, "update", &changes).await?;
    }
    tx.commit().await?;
    Ok(candidate)
}

/// Goes back to the default template.
pub async fn reset(db: &Db, actor: &Actor, now: Millis, code: &str, lang: Lang) -> Result<()> {
    event(code).ok_or(Error::NotFound)?;
    let mut tx = db.begin().await?;
    let n = sqlx::query("DELETE FROM email_templates WHERE event = $1 AND lang = $2")
        .bind(code)
        .bind(lang.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n > 0 {
        audit::record(
            &mut tx,
            actor,
            now,
            "email_template",
            0,
            "update",
            &[audit::Change { field: "reset".into(), old: None, new: Some(format!("{code}.{}", lang.code())) }],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_renders_with_its_sample_in_both_languages() {
        for def in events() {
            for lang in [Lang::Fr, Lang::En] {
                let r = render(&default_of(def, lang), &(def.sample)()).unwrap();
                let sample_name = r.text.contains("Julie Roy") || r.text.contains("Hélène Tremblay");
                assert!(!r.subject.is_empty() && sample_name && !r.text.contains("{{"), "{} {lang:?}", def.code);
            }
        }
    }

    #[test]
    fn variables_are_escaped_in_html_and_cannot_add_headers() {
        let t = Template {
            event: "x".into(),
            lang: Lang::Fr,
            subject: "Hi {{ name }}".into(),
            text_body: "{{ name }}".into(),
            html_body: "<p>{{ name }}</p>".into(),
            customized: true,
        };
        let r = render(&t, &json!({"name": "<b>Bob</b>\r\nBcc: evil@example.com"})).unwrap();
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        assert!(r.html.contains("&lt;b&gt;Bob&lt;&#x2f;b&gt;") || r.html.contains("&lt;b&gt;Bob&lt;/b&gt;"), "{}", r.html);
        assert!(r.text.contains("<b>Bob</b>"), "plain text is not HTML-escaped");
        let bad = Template { subject: "{% if %}".into(), ..t };
        assert_eq!(render(&bad, &json!({})).unwrap_err().0, "subject");
    }
}
