{{ recon_records('lead_forms_leads') }}
