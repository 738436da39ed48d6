{{ recon_pairs('lead_forms_leads') }}
