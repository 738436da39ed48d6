{{ recon_decisions('lead_forms_leads') }}
