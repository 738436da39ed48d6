{{ recon_records('projects_orders') }}
