// The console's words, in English and Brazilian Portuguese. Names that the tests and screen
// readers find controls by ("Approval queue", "Approve", "Reject", ...) are part of the
// contract of issue 18: change them only with it.
export const messages = {
  en: {
    'app.title': 'Pyxis console',
    'nav.queue': 'Approval queue', 'nav.new': 'New request', 'nav.mine': 'My requests',
    'nav.overrides': 'Override reviews', 'nav.discrepancies': 'Discrepancies', 'nav.refills': 'Refills',
    'nav.users': 'Users', 'nav.cabinets': 'Cabinets', 'nav.medications': 'Medications', 'nav.stock': 'Counts and loads',
    'signout': 'Sign out', 'shortcuts': 'Keyboard shortcuts', 'language': 'Language', 'close': 'Close',
    'signedin': 'Signed in as {name} ({role})',
    'signin.title': 'Sign in', 'signin.text': 'You are not signed in. Open the sign-in link you were given (in dev mode, the links the dev banner prints), or sign in with your hospital account.',
    'signin.oidc': 'Sign in with the hospital account',
    'queue.title': 'Approval queue', 'queue.empty': 'No request is awaiting approval.',
    'col.priority': 'Priority', 'col.waited': 'Waiting', 'col.patient': 'Patient', 'col.cabinet': 'Cabinet',
    'col.medications': 'Medications', 'col.approvals': 'Approvals', 'col.actions': 'Actions', 'col.status': 'Status',
    'col.requested': 'Requested', 'col.reason': 'Reason', 'col.requester': 'Requested by',
    'approve': 'Approve', 'reject': 'Reject', 'reason': 'Reason', 'confirmReject': 'Confirm reject', 'note': 'Note',
    'cancel': 'Cancel', 'back': 'Back',
    'approvals.of': '{n} of {m} approvals', 'approvals.by': 'first by {name}', 'approvals.mine': 'You approved it; a second pharmacist must approve.',
    'overdue': 'Past deadline', 'mrn': 'MRN', 'bed': 'bed',
    'page.next': 'Next page', 'page.prev': 'Previous page', 'page.of': 'Page {n}',
    'prio.stat': 'STAT', 'prio.urgent': 'Urgent', 'prio.routine': 'Routine',
    'new.title': 'New request', 'f.mrn': 'Patient MRN', 'f.bed': 'Bed', 'f.family': 'Family name', 'f.given': 'Given name',
    'f.cabinet': 'Cabinet', 'f.medication': 'Medication', 'f.quantity': 'Quantity', 'f.priority': 'Priority',
    'f.lines': 'Medications', 'addLine': 'Add line', 'removeLine': 'Remove line', 'submit': 'Submit request',
    'new.created': 'Request sent: it is awaiting approval.', 'new.unknownMed': 'Choose a medication from the list: "{v}" is not in the catalogue.',
    'mine.title': 'My requests', 'mine.empty': 'No requests yet.',
    'st.submitted': 'submitted', 'st.awaiting_approval': 'awaiting approval', 'st.approved': 'approved',
    'st.ready_at_cabinet': 'at the cabinet', 'st.dispensed': 'dispensed', 'st.rejected': 'rejected',
    'st.cancelled': 'cancelled', 'st.expired': 'expired', 'st.failed': 'failed',
    'done': 'Done.', 'done.approve': 'Approved.', 'done.reject': 'Rejected.', 'done.cancel': 'Cancelled.',
    'err.generic': 'That did not work: {msg}', 'err.session': 'Your session has ended. Sign in again.',
    'live.off': 'Live updates are off; the page reads again every few seconds.',
    'keys.intro': 'The approval queue can be worked from the keyboard alone:',
    'keys.down': 'next request', 'keys.up': 'previous request', 'keys.approve': 'approve the selected request',
    'keys.reject': 'reject the selected request (asks for a reason)', 'keys.help': 'show this help', 'keys.esc': 'close this help, or stop rejecting',
    'ov.title': 'Override reviews', 'ov.empty': 'No override waiting for review.', 'ov.justified': 'Justified', 'ov.notJustified': 'Not justified',
    'col.medication': 'Medication', 'col.quantity': 'Quantity', 'col.when': 'When', 'col.by': 'By', 'col.cause': 'Cause', 'col.kind': 'Kind',
    'dis.title': 'Discrepancies', 'dis.empty': 'No open discrepancy.', 'dis.counted': 'Counted level', 'dis.resolve': 'Resolve',
    'ref.title': 'Refills', 'ref.empty': 'No refill to confirm.', 'ref.confirm': 'Confirm refill', 'ref.loaded': 'Quantity loaded',
    'users.title': 'Users', 'col.name': 'Name', 'col.role': 'Role', 'col.unit': 'Unit', 'col.registration': 'Registration', 'col.active': 'Active',
    'deactivate': 'Deactivate', 'activate': 'Activate', 'yes': 'yes', 'no': 'no',
    'cab.title': 'Cabinets', 'col.code': 'Code', 'col.driver': 'Driver', 'col.address': 'Address', 'col.sources': 'Report sources',
    'med.title': 'Medications', 'col.strength': 'Strength', 'col.form': 'Form', 'col.controlled': 'Controlled list',
    'register': 'Download the controlled-substance register (CSV)',
    'stock.count': 'Counted', 'stock.record': 'Record count', 'stock.load': 'Quantity to load', 'stock.witness': 'Witness', 'stock.loadButton': 'Record load',
    'save': 'Save', 'users.add': 'Add user', 'col.id': 'User id',
    'stock.title': 'Counts and loads', 'col.onhand': 'On hand', 'col.reserved': 'Reserved', 'col.par': 'Par level',
  },
  'pt-BR': {
    'app.title': 'Console Pyxis',
    'nav.queue': 'Fila de aprovação', 'nav.new': 'Nova solicitação', 'nav.mine': 'Minhas solicitações',
    'nav.overrides': 'Revisões de override', 'nav.discrepancies': 'Discrepâncias', 'nav.refills': 'Reposições',
    'nav.users': 'Usuários', 'nav.cabinets': 'Gabinetes', 'nav.medications': 'Medicamentos', 'nav.stock': 'Contagens e cargas',
    'signout': 'Sair', 'shortcuts': 'Atalhos de teclado', 'language': 'Idioma', 'close': 'Fechar',
    'signedin': 'Conectado como {name} ({role})',
    'signin.title': 'Entrar', 'signin.text': 'Você não está conectado. Abra o link de acesso que recebeu (no modo dev, os links que o banner imprime) ou entre com a conta do hospital.',
    'signin.oidc': 'Entrar com a conta do hospital',
    'queue.title': 'Fila de aprovação', 'queue.empty': 'Nenhuma solicitação aguarda aprovação.',
    'col.priority': 'Prioridade', 'col.waited': 'Espera', 'col.patient': 'Paciente', 'col.cabinet': 'Gabinete',
    'col.medications': 'Medicamentos', 'col.approvals': 'Aprovações', 'col.actions': 'Ações', 'col.status': 'Situação',
    'col.requested': 'Solicitada', 'col.reason': 'Motivo', 'col.requester': 'Solicitada por',
    'approve': 'Aprovar', 'reject': 'Rejeitar', 'reason': 'Motivo', 'confirmReject': 'Confirmar rejeição', 'note': 'Observação',
    'cancel': 'Cancelar', 'back': 'Voltar',
    'approvals.of': '{n} de {m} aprovações', 'approvals.by': 'primeira por {name}', 'approvals.mine': 'Você aprovou; falta um segundo farmacêutico.',
    'overdue': 'Prazo vencido', 'mrn': 'Prontuário', 'bed': 'leito',
    'page.next': 'Próxima página', 'page.prev': 'Página anterior', 'page.of': 'Página {n}',
    'prio.stat': 'STAT', 'prio.urgent': 'Urgente', 'prio.routine': 'Rotina',
    'new.title': 'Nova solicitação', 'f.mrn': 'Prontuário do paciente', 'f.bed': 'Leito', 'f.family': 'Sobrenome', 'f.given': 'Nome',
    'f.cabinet': 'Gabinete', 'f.medication': 'Medicamento', 'f.quantity': 'Quantidade', 'f.priority': 'Prioridade',
    'f.lines': 'Medicamentos', 'addLine': 'Adicionar linha', 'removeLine': 'Remover linha', 'submit': 'Enviar solicitação',
    'new.created': 'Solicitação enviada: aguarda aprovação.', 'new.unknownMed': 'Escolha um medicamento da lista: "{v}" não está no catálogo.',
    'mine.title': 'Minhas solicitações', 'mine.empty': 'Nenhuma solicitação ainda.',
    'st.submitted': 'enviada', 'st.awaiting_approval': 'aguardando aprovação', 'st.approved': 'aprovada',
    'st.ready_at_cabinet': 'no gabinete', 'st.dispensed': 'dispensada', 'st.rejected': 'rejeitada',
    'st.cancelled': 'cancelada', 'st.expired': 'expirada', 'st.failed': 'falhou',
    'done': 'Feito.', 'done.approve': 'Aprovada.', 'done.reject': 'Rejeitada.', 'done.cancel': 'Cancelada.',
    'err.generic': 'Não funcionou: {msg}', 'err.session': 'Sua sessão terminou. Entre novamente.',
    'live.off': 'Atualização ao vivo desligada; a página relê a cada poucos segundos.',
    'keys.intro': 'A fila de aprovação pode ser trabalhada só com o teclado:',
    'keys.down': 'próxima solicitação', 'keys.up': 'solicitação anterior', 'keys.approve': 'aprovar a solicitação selecionada',
    'keys.reject': 'rejeitar a solicitação selecionada (pede um motivo)', 'keys.help': 'mostrar esta ajuda', 'keys.esc': 'fechar esta ajuda ou desistir de rejeitar',
    'ov.title': 'Revisões de override', 'ov.empty': 'Nenhum override aguarda revisão.', 'ov.justified': 'Justificado', 'ov.notJustified': 'Não justificado',
    'col.medication': 'Medicamento', 'col.quantity': 'Quantidade', 'col.when': 'Quando', 'col.by': 'Por', 'col.cause': 'Causa', 'col.kind': 'Tipo',
    'dis.title': 'Discrepâncias', 'dis.empty': 'Nenhuma discrepância aberta.', 'dis.counted': 'Nível contado', 'dis.resolve': 'Resolver',
    'ref.title': 'Reposições', 'ref.empty': 'Nenhuma reposição a confirmar.', 'ref.confirm': 'Confirmar reposição', 'ref.loaded': 'Quantidade carregada',
    'users.title': 'Usuários', 'col.name': 'Nome', 'col.role': 'Papel', 'col.unit': 'Unidade', 'col.registration': 'Registro', 'col.active': 'Ativo',
    'deactivate': 'Desativar', 'activate': 'Ativar', 'yes': 'sim', 'no': 'não',
    'cab.title': 'Gabinetes', 'col.code': 'Código', 'col.driver': 'Driver', 'col.address': 'Endereço', 'col.sources': 'Origens de relatório',
    'med.title': 'Medicamentos', 'col.strength': 'Concentração', 'col.form': 'Forma', 'col.controlled': 'Lista de controlados',
    'register': 'Baixar o livro de substâncias controladas (CSV)',
    'stock.count': 'Contado', 'stock.record': 'Registrar contagem', 'stock.load': 'Quantidade a carregar', 'stock.witness': 'Testemunha', 'stock.loadButton': 'Registrar carga',
    'save': 'Salvar', 'users.add': 'Adicionar usuário', 'col.id': 'Id do usuário',
    'stock.title': 'Contagens e cargas', 'col.onhand': 'Em estoque', 'col.reserved': 'Reservado', 'col.par': 'Nível par',
  },
};

// pick chooses the console's language from the browser's preferred languages.
export function pick(preferred) {
  for (const tag of preferred || []) {
    const l = String(tag).toLowerCase();
    if (l.startsWith('pt')) return 'pt-BR';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

let current = 'en';

export function setLang(lang) { current = messages[lang] ? lang : 'en'; document.documentElement.lang = current; }
export function lang() { return current; }

// t returns the words for key in the current language, with {name} placeholders filled.
export function t(key, vars = {}) {
  const s = messages[current][key] ?? messages.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}
