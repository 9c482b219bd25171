//! The status page's words: one table per desk language, so the markup is written once.
//!
//! Every text the page, the Atom feed and the calendar show comes from a [`Strings`] table;
//! a language is added by adding a table (the compiler then asks for every string). The JSON
//! is not translated: its values are the stable codes an integration reads.

/// A language the status page speaks: the desk languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Fr,
    Pt,
    Es,
    It,
    Nl,
    De,
}

impl Lang {
    /// Every language, in the order of the desks' default list.
    pub const ALL: [Lang; 7] = [
        Lang::En,
        Lang::Fr,
        Lang::Pt,
        Lang::Es,
        Lang::It,
        Lang::Nl,
        Lang::De,
    ];

    /// The ISO 639-1 code, as in `<html lang>` and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Pt => "pt",
            Lang::Es => "es",
            Lang::It => "it",
            Lang::Nl => "nl",
            Lang::De => "de",
        }
    }

    /// Reads a language tag by its primary subtag, ignoring case: `fr`, `FR`, `pt-BR`.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The language's name in itself, for the links to the other languages.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Pt => "Português",
            Lang::Es => "Español",
            Lang::It => "Italiano",
            Lang::Nl => "Nederlands",
            Lang::De => "Deutsch",
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
            Lang::Pt => &PT,
            Lang::Es => &ES,
            Lang::It => &IT,
            Lang::Nl => &NL,
            Lang::De => &DE,
        }
    }
}

/// The words of one language. `{days}` and `{tz}` are filled in by the page.
#[derive(Debug)]
pub struct Strings {
    /// The page title when `status.title` is not set.
    pub default_title: &'static str,
    pub operational: &'static str,
    pub degraded: &'static str,
    pub outage: &'static str,
    pub current_incidents: &'static str,
    pub no_incidents: &'static str,
    pub ongoing_maintenance: &'static str,
    pub no_ongoing: &'static str,
    pub upcoming_maintenance: &'static str,
    /// Holds `{days}`.
    pub no_upcoming: &'static str,
    pub impact_outage: &'static str,
    pub impact_degraded: &'static str,
    pub impact_reduced_redundancy: &'static str,
    pub impact_none: &'static str,
    pub investigating: &'static str,
    pub identified: &'static str,
    pub monitoring: &'static str,
    pub resolved: &'static str,
    pub tentative: &'static str,
    pub scheduled: &'static str,
    pub in_progress: &'static str,
    pub opened: &'static str,
    pub resolved_at: &'static str,
    pub start: &'static str,
    pub end: &'static str,
    pub sites: &'static str,
    pub services: &'static str,
    pub impact: &'static str,
    pub last_updated: &'static str,
    /// Holds `{tz}`.
    pub times_in: &'static str,
    pub subscribe: &'static str,
    pub atom_feed: &'static str,
    pub calendar: &'static str,
    pub incident: &'static str,
    pub maintenance: &'static str,
    pub language: &'static str,
}

const EN: Strings = Strings {
    default_title: "Service status",
    operational: "All systems operational",
    degraded: "Degraded service",
    outage: "Service outage",
    current_incidents: "Current incidents",
    no_incidents: "No incidents reported.",
    ongoing_maintenance: "Maintenance in progress",
    no_ongoing: "No maintenance in progress.",
    upcoming_maintenance: "Upcoming maintenance",
    no_upcoming: "No maintenance planned in the next {days} days.",
    impact_outage: "Outage",
    impact_degraded: "Degraded",
    impact_reduced_redundancy: "Reduced redundancy",
    impact_none: "No impact expected",
    investigating: "Investigating",
    identified: "Identified",
    monitoring: "Monitoring",
    resolved: "Resolved",
    tentative: "Tentative",
    scheduled: "Scheduled",
    in_progress: "In progress",
    opened: "Opened",
    resolved_at: "Resolved",
    start: "Start",
    end: "End",
    sites: "Sites",
    services: "Services",
    impact: "Impact",
    last_updated: "Last updated",
    times_in: "Times are shown in the {tz} time zone.",
    subscribe: "Subscribe",
    atom_feed: "Atom feed",
    calendar: "Maintenance calendar (iCal)",
    incident: "Incident",
    maintenance: "Maintenance",
    language: "Language",
};

const FR: Strings = Strings {
    default_title: "État des services",
    operational: "Tous les systèmes sont opérationnels",
    degraded: "Service dégradé",
    outage: "Interruption de service",
    current_incidents: "Incidents en cours",
    no_incidents: "Aucun incident signalé.",
    ongoing_maintenance: "Maintenance en cours",
    no_ongoing: "Aucune maintenance en cours.",
    upcoming_maintenance: "Maintenances à venir",
    no_upcoming: "Aucune maintenance prévue dans les {days} prochains jours.",
    impact_outage: "Interruption",
    impact_degraded: "Service dégradé",
    impact_reduced_redundancy: "Redondance réduite",
    impact_none: "Aucun impact attendu",
    investigating: "Analyse en cours",
    identified: "Cause identifiée",
    monitoring: "Sous surveillance",
    resolved: "Résolu",
    tentative: "Provisoire",
    scheduled: "Planifiée",
    in_progress: "En cours",
    opened: "Ouvert",
    resolved_at: "Résolu",
    start: "Début",
    end: "Fin",
    sites: "Sites",
    services: "Services",
    impact: "Impact",
    last_updated: "Dernière mise à jour",
    times_in: "Les heures sont indiquées dans le fuseau horaire {tz}.",
    subscribe: "S’abonner",
    atom_feed: "Flux Atom",
    calendar: "Calendrier des maintenances (iCal)",
    incident: "Incident",
    maintenance: "Maintenance",
    language: "Langue",
};

const PT: Strings = Strings {
    default_title: "Estado dos serviços",
    operational: "Todos os sistemas estão operacionais",
    degraded: "Serviço degradado",
    outage: "Interrupção do serviço",
    current_incidents: "Incidentes em curso",
    no_incidents: "Nenhum incidente reportado.",
    ongoing_maintenance: "Manutenção em curso",
    no_ongoing: "Nenhuma manutenção em curso.",
    upcoming_maintenance: "Manutenções previstas",
    no_upcoming: "Nenhuma manutenção prevista nos próximos {days} dias.",
    impact_outage: "Interrupção",
    impact_degraded: "Serviço degradado",
    impact_reduced_redundancy: "Redundância reduzida",
    impact_none: "Sem impacto previsto",
    investigating: "Em investigação",
    identified: "Causa identificada",
    monitoring: "Em monitorização",
    resolved: "Resolvido",
    tentative: "Provisória",
    scheduled: "Agendada",
    in_progress: "Em curso",
    opened: "Aberto",
    resolved_at: "Resolvido",
    start: "Início",
    end: "Fim",
    sites: "Locais",
    services: "Serviços",
    impact: "Impacto",
    last_updated: "Última atualização",
    times_in: "As horas são apresentadas no fuso horário {tz}.",
    subscribe: "Subscrever",
    atom_feed: "Feed Atom",
    calendar: "Calendário de manutenções (iCal)",
    incident: "Incidente",
    maintenance: "Manutenção",
    language: "Idioma",
};

const ES: Strings = Strings {
    default_title: "Estado de los servicios",
    operational: "Todos los sistemas funcionan con normalidad",
    degraded: "Servicio degradado",
    outage: "Interrupción del servicio",
    current_incidents: "Incidencias en curso",
    no_incidents: "No hay incidencias.",
    ongoing_maintenance: "Mantenimiento en curso",
    no_ongoing: "No hay ningún mantenimiento en curso.",
    upcoming_maintenance: "Próximos mantenimientos",
    no_upcoming: "No hay mantenimientos previstos en los próximos {days} días.",
    impact_outage: "Interrupción",
    impact_degraded: "Servicio degradado",
    impact_reduced_redundancy: "Redundancia reducida",
    impact_none: "Sin impacto previsto",
    investigating: "En investigación",
    identified: "Causa identificada",
    monitoring: "En observación",
    resolved: "Resuelta",
    tentative: "Provisional",
    scheduled: "Programado",
    in_progress: "En curso",
    opened: "Abierta",
    resolved_at: "Resuelta",
    start: "Inicio",
    end: "Fin",
    sites: "Emplazamientos",
    services: "Servicios",
    impact: "Impacto",
    last_updated: "Última actualización",
    times_in: "Las horas se muestran en la zona horaria {tz}.",
    subscribe: "Suscribirse",
    atom_feed: "Canal Atom",
    calendar: "Calendario de mantenimientos (iCal)",
    incident: "Incidencia",
    maintenance: "Mantenimiento",
    language: "Idioma",
};

const IT: Strings = Strings {
    default_title: "Stato dei servizi",
    operational: "Tutti i sistemi sono operativi",
    degraded: "Servizio degradato",
    outage: "Interruzione del servizio",
    current_incidents: "Incidenti in corso",
    no_incidents: "Nessun incidente segnalato.",
    ongoing_maintenance: "Manutenzione in corso",
    no_ongoing: "Nessuna manutenzione in corso.",
    upcoming_maintenance: "Manutenzioni programmate",
    no_upcoming: "Nessuna manutenzione prevista nei prossimi {days} giorni.",
    impact_outage: "Interruzione",
    impact_degraded: "Servizio degradato",
    impact_reduced_redundancy: "Ridondanza ridotta",
    impact_none: "Nessun impatto previsto",
    investigating: "In analisi",
    identified: "Causa individuata",
    monitoring: "In monitoraggio",
    resolved: "Risolto",
    tentative: "Provvisoria",
    scheduled: "Programmata",
    in_progress: "In corso",
    opened: "Aperto",
    resolved_at: "Risolto",
    start: "Inizio",
    end: "Fine",
    sites: "Siti",
    services: "Servizi",
    impact: "Impatto",
    last_updated: "Ultimo aggiornamento",
    times_in: "Gli orari sono indicati nel fuso orario {tz}.",
    subscribe: "Iscriviti",
    atom_feed: "Feed Atom",
    calendar: "Calendario delle manutenzioni (iCal)",
    incident: "Incidente",
    maintenance: "Manutenzione",
    language: "Lingua",
};

const NL: Strings = Strings {
    default_title: "Servicestatus",
    operational: "Alle systemen werken normaal",
    degraded: "Verminderde dienstverlening",
    outage: "Storing",
    current_incidents: "Actuele storingen",
    no_incidents: "Geen storingen gemeld.",
    ongoing_maintenance: "Onderhoud in uitvoering",
    no_ongoing: "Er wordt op dit moment geen onderhoud uitgevoerd.",
    upcoming_maintenance: "Gepland onderhoud",
    no_upcoming: "Geen onderhoud gepland in de komende {days} dagen.",
    impact_outage: "Onderbreking",
    impact_degraded: "Verminderde werking",
    impact_reduced_redundancy: "Verminderde redundantie",
    impact_none: "Geen impact verwacht",
    investigating: "In onderzoek",
    identified: "Oorzaak gevonden",
    monitoring: "Wordt gevolgd",
    resolved: "Opgelost",
    tentative: "Voorlopig",
    scheduled: "Gepland",
    in_progress: "In uitvoering",
    opened: "Gemeld",
    resolved_at: "Opgelost",
    start: "Begin",
    end: "Einde",
    sites: "Locaties",
    services: "Diensten",
    impact: "Impact",
    last_updated: "Laatst bijgewerkt",
    times_in: "Tijden worden weergegeven in de tijdzone {tz}.",
    subscribe: "Abonneren",
    atom_feed: "Atom-feed",
    calendar: "Onderhoudsagenda (iCal)",
    incident: "Storing",
    maintenance: "Onderhoud",
    language: "Taal",
};

const DE: Strings = Strings {
    default_title: "Servicestatus",
    operational: "Alle Systeme betriebsbereit",
    degraded: "Eingeschränkter Betrieb",
    outage: "Dienstausfall",
    current_incidents: "Aktuelle Störungen",
    no_incidents: "Keine Störungen gemeldet.",
    ongoing_maintenance: "Laufende Wartungsarbeiten",
    no_ongoing: "Derzeit finden keine Wartungsarbeiten statt.",
    upcoming_maintenance: "Geplante Wartungsarbeiten",
    no_upcoming: "In den nächsten {days} Tagen sind keine Wartungsarbeiten geplant.",
    impact_outage: "Ausfall",
    impact_degraded: "Eingeschränkt",
    impact_reduced_redundancy: "Reduzierte Redundanz",
    impact_none: "Keine Auswirkungen erwartet",
    investigating: "Wird untersucht",
    identified: "Ursache identifiziert",
    monitoring: "Wird beobachtet",
    resolved: "Behoben",
    tentative: "Vorläufig",
    scheduled: "Geplant",
    in_progress: "In Arbeit",
    opened: "Gemeldet",
    resolved_at: "Behoben",
    start: "Beginn",
    end: "Ende",
    sites: "Standorte",
    services: "Dienste",
    impact: "Auswirkung",
    last_updated: "Zuletzt aktualisiert",
    times_in: "Alle Zeiten in der Zeitzone {tz}.",
    subscribe: "Abonnieren",
    atom_feed: "Atom-Feed",
    calendar: "Wartungskalender (iCal)",
    incident: "Störung",
    maintenance: "Wartung",
    language: "Sprache",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_and_tags_match_by_primary_subtag() {
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.code()), Some(l));
        }
        assert_eq!(Lang::parse("pt-BR"), Some(Lang::Pt));
        assert_eq!(Lang::parse(" DE_ch "), Some(Lang::De));
        assert_eq!(Lang::parse("pl"), None);
        assert_eq!(Lang::parse(""), None);
    }

    #[test]
    fn every_table_fills_its_placeholders_and_differs_from_english() {
        for l in Lang::ALL {
            let s = l.strings();
            assert!(s.no_upcoming.contains("{days}"), "{}", l.code());
            assert!(s.times_in.contains("{tz}"), "{}", l.code());
            if l != Lang::En {
                assert_ne!(s.operational, EN.operational, "{}", l.code());
                assert_ne!(s.upcoming_maintenance, EN.upcoming_maintenance);
            }
        }
    }
}
